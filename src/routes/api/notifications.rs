//! The notification centre: per-user read state.

use poem_openapi::OpenApi;

pub struct NotificationsApi;

#[OpenApi]
impl NotificationsApi {}
