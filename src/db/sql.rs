//! SQL built clause by clause: a statement whose `WHERE` holds only the
//! filters that are set, so that an unset filter leaves no trace in the
//! text and the planner sees exactly the conditions that apply (each
//! `EXISTS` as a plain semi-join, each column with its own index).

use tokio_postgres::types::{ToSql, Type};

/// SQL text and the parameters its placeholders bind, in order, each with
/// its PostgreSQL type: sent with `query_typed`, a statement is one round
/// trip (no separate prepare).
pub struct Statement<'a> {
    pub text: String,
    pub params: Vec<(&'a (dyn ToSql + Sync), Type)>,
}

/// The PostgreSQL type a Rust value binds as.
pub trait PgType {
    const TYPE: Type;
}

macro_rules! pg_type {
    ($($t:ty => $pg:expr),* $(,)?) => { $(impl PgType for $t { const TYPE: Type = $pg; })* };
}
pg_type! {
    uuid::Uuid => Type::UUID,
    String => Type::TEXT,
    &str => Type::TEXT,
    i64 => Type::INT8,
    i32 => Type::INT4,
    bool => Type::BOOL,
    chrono::DateTime<chrono::Utc> => Type::TIMESTAMPTZ,
    Vec<uuid::Uuid> => Type::UUID_ARRAY,
}

impl<T: PgType> PgType for Option<T> {
    const TYPE: Type = T::TYPE;
}

impl<'a> Statement<'a> {
    /// `WHERE {column} = $1`, binding `value`; the condition every list
    /// starts from (the caller's practice). Returns the placeholder, for
    /// conditions that name the value again.
    pub fn where_eq<T: ToSql + Sync + PgType>(
        column: &str,
        value: &'a T,
    ) -> (Statement<'a>, String) {
        let mut st = Statement { text: String::new(), params: Vec::new() };
        let p = st.bind(value);
        st.text = format!("WHERE {column} = {p}");
        (st, p)
    }

    /// Binds the next parameter; returns its placeholder (`$n`).
    pub fn bind<T: ToSql + Sync + PgType>(&mut self, value: &'a T) -> String {
        self.params.push((value, T::TYPE));
        format!("${}", self.params.len())
    }

    /// Appends ` AND {condition}`, the condition written around the
    /// placeholder of `value`, when `value` is set.
    pub fn and_if<T: ToSql + Sync + PgType>(
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
