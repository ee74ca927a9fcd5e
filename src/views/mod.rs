//! HTML views (maud): plain functions returning `Markup`, composed by pages.

pub mod audit;
pub mod auditors;
pub mod chart;
pub mod dashboard;
pub mod dev_mailbox;
pub mod emails;
pub mod errors;
pub mod evidence;
pub mod filters;
pub mod format;
pub mod layout;
pub mod log;
pub mod login;
pub mod notifications;
pub mod packs;
pub mod reports;
pub mod security;
pub mod settings;
pub mod site;
pub mod todo;
pub mod transfer;
pub mod users;
