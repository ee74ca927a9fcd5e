//! Monthly compliance reports: the figures for a month, the PDF made from
//! them, and the scheduler that makes last month's report on the 1st.

pub mod cli;
pub mod scheduler;
