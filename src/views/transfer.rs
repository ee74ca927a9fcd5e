//! Markup of the transfer pages.
