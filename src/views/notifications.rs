//! Markup of the notifications pages.
