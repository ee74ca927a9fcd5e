//! HTML views (maud): plain functions returning `Markup`, composed by pages.

pub mod errors;
pub mod layout;
pub mod login;
