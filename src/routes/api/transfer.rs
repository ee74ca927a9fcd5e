//! Requests to move the practice to another MSP partner.

use poem_openapi::OpenApi;

pub struct TransferApi;

#[OpenApi]
impl TransferApi {}
