//! Markup of the users pages.
