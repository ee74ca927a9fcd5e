//! Monthly compliance reports (PDF).

use poem_openapi::OpenApi;

pub struct ReportsApi;

#[OpenApi]
impl ReportsApi {}
