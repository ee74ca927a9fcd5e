//! Cached monthly reports (client_monthly_reports) and the data they are made from.
