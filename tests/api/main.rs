//! One integration-test binary: each module covers one area of the portal.
//! Every test gets its own database cloned from a migrated template.

mod appliances;
mod evidence_fixtures;
mod helpers;
mod mail_helpers;
mod smtp_server;

mod account;
mod assets;
mod audit;
mod auditor_reach;
mod auditors;
mod auth;
mod auth_pages;
mod browser;
mod cli;
mod compliance;
mod compliance_pages;
mod csrf;
mod demo;
mod evidence_ingest;
mod evidence_log;
mod health;
mod housekeeping;
mod layering;
mod log_api;
mod log_integrator;
mod log_interop;
mod log_reports;
mod log_verify;
mod log_witness;
mod mail;
mod managed;
mod matrix;
mod notifications;
mod openapi;
mod packs;
mod pages;
mod proxies;
mod reports;
mod schema;
mod shell;
mod token_scopes;
mod transfer;
mod users;
mod verify_chain;
