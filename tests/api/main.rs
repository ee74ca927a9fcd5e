//! One integration-test binary: each module covers one area of the portal.
//! Every test gets its own database cloned from a migrated template.

mod helpers;

mod assets;
mod browser;
mod cli;
mod demo;
mod health;
mod managed;
mod openapi;
mod pages;
mod schema;
mod shell;
