//! One integration-test binary: each module covers one area of the portal.
//! Every test gets its own database cloned from a migrated template.

mod helpers;
mod mail_helpers;
mod smtp_server;

mod account;
mod assets;
mod auth;
mod auth_pages;
mod browser;
mod cli;
mod csrf;
mod demo;
mod health;
mod mail;
mod managed;
mod matrix;
mod openapi;
mod pages;
mod schema;
mod shell;
