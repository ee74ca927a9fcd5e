//! The practice's users and invitations.

use poem_openapi::OpenApi;

pub struct UsersApi;

#[OpenApi]
impl UsersApi {}
