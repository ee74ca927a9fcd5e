//! SQL built clause by clause: a statement whose `WHERE` holds only the
//! filters that are set, so that an unset filter leaves no trace in the
//! text and the planner sees exactly the conditions that apply (each
//! `EXISTS` as a plain semi-join, each column with its own index).

use tokio_postgres::types::ToSql;

/// SQL text and the parameters its placeholders bind, in order.
pub struct Statement<'a> {
    pub text: String,
    pub params: Vec<&'a (dyn ToSql + Sync)>,
}

impl<'a> Statement<'a> {
    /// `WHERE {column} = $1`, binding `value`; the condition every list
    /// starts from (the caller's practice). Returns the placeholder, for
    /// conditions that name the value again.
    pub fn where_eq(column: &str, value: &'a (dyn ToSql + Sync)) -> (Statement<'a>, String) {
        let mut st = Statement { text: String::new(), params: Vec::new() };
        let p = st.bind(value);
        st.text = format!("WHERE {column} = {p}");
        (st, p)
    }

    /// Binds the next parameter; returns its placeholder (`$n`).
    pub fn bind(&mut self, value: &'a (dyn ToSql + Sync)) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// Appends ` AND {condition}`, the condition written around the
    /// placeholder of `value`, when `value` is set.
    pub fn and_if<T: ToSql + Sync>(
        &mut self,
        value: &'a Option<T>,
        condition: impl FnOnce(&str) -> String,
    ) {
        if let Some(value) = value {
            let p = self.bind(value);
            self.text += " AND ";
            self.text += &condition(&p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_filters_leave_no_trace_and_placeholders_count_up() {
        let org = 7i64;
        let (set, unset): (Option<i32>, Option<i32>) = (Some(3), None);
        let (mut st, org_p) = Statement::where_eq("client_org_id", &org);
        st.and_if(&unset, |p| format!("a = {p}"));
        st.and_if(&set, |p| format!("(b < {p} OR c = {org_p})"));
        let limit = st.bind(&org);
        assert_eq!(st.text, "WHERE client_org_id = $1 AND (b < $2 OR c = $1)");
        assert_eq!(limit, "$3");
        assert_eq!(st.params.len(), 3);
    }
}
