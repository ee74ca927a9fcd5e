//! Markup of the reports pages.
