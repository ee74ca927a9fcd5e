//! OsirisCare client portal: a healthcare practice's own view of its HIPAA
//! compliance evidence. `main.rs` is a thin CLI over this library; tests use
//! [`app`] in process or [`server::Server`] on a real port.

pub mod admin;
pub mod appliance;
pub mod assets;
pub mod audit;
pub mod auditors;
pub mod auth;
pub mod cli;
pub mod compliance;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod evidence;
pub mod log;
pub mod mail;
pub mod notifications;
pub mod packs;
pub mod paths;
pub mod practice;
pub mod reach;
pub mod reports;
pub mod routes;
pub mod server;
pub mod state;
pub mod todo;
pub mod transfer;
pub mod users;
pub mod views;
pub mod zone;

pub use state::{AppState, Mode};

/// The whole portal as one poem endpoint.
pub fn app(state: AppState) -> impl poem::Endpoint + 'static {
    routes::finish(routes::routes(), state)
}
