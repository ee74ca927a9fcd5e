//! Markup of the audit pages.
