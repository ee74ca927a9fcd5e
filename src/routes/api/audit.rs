//! The practice's audit log.

use poem_openapi::OpenApi;

pub struct AuditApi;

#[OpenApi]
impl AuditApi {}
