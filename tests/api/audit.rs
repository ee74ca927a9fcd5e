//! The audit area: API and pages.

use serde_json::Value;

use crate::helpers::{Practice, TestApp};
use crate::matrix::Case;

/// This area's rows of the role x organisation matrix (see matrix.rs).
pub const MATRIX: &[Case] = &[];

/// A fresh request for one of this area's operations against practice `a`,
/// or None when the operation is not this area's.
pub async fn matrix_request(
    app: &TestApp,
    a: &Practice,
    operation_id: &str,
) -> Option<(String, Option<Value>)> {
    let _ = (app, a, operation_id);
    None
}
