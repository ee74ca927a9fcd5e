//! The server's least-privilege database role. Migrations run as the role
//! that owns the tables; the pooled connections that serve requests log in
//! as a runtime role that owns nothing, is no superuser, and may read and
//! write rows but not alter tables, disable triggers, set
//! `session_replication_role`, or do more to the audit log than append and
//! read. Someone who takes over the server process therefore cannot quietly
//! rewrite the audit log.
//!
//! The managed cluster makes both roles itself (owner `portal`, runtime
//! `portal_app`); a `DATABASE_URL` deployment names the runtime role in
//! `DATABASE_URL` and the owner in `PORTAL_MIGRATION_DATABASE_URL`, and
//! `portal db create-runtime-role` prints or runs the SQL that makes one.

use tokio_postgres::GenericClient;

use super::quote_ident;
use crate::error::AppResult;

/// The runtime role of the managed cluster.
pub const MANAGED_RUNTIME_ROLE: &str = "portal_app";

/// Tables the runtime role may read and append to, never change.
pub const APPEND_ONLY: &[&str] = &["client_audit_log"];
/// Tables the runtime role may only read.
pub const READ_ONLY: &[&str] = &["refinery_schema_history"];

/// `CREATE ROLE` for a runtime role: a login that inherits nothing and may
/// create nothing. Without a password it relies on the server's
/// authentication (the managed cluster's private socket).
pub fn create_sql(role: &str, password: Option<&str>) -> String {
    let password = match password {
        Some(p) => format!(" PASSWORD '{}'", p.replace('\'', "''")),
        None => String::new(),
    };
    format!(
        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT{password};",
        quote_ident(role)
    )
}

/// The grants of a runtime role on the migrated schema; idempotent, so the
/// portal runs them after every migration (new tables included).
pub fn grant_sql(role: &str) -> String {
    let r = quote_ident(role);
    let mut sql = format!(
        "GRANT USAGE ON SCHEMA public TO {r};\n\
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r};\n\
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {r};\n\
         GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {r};\n"
    );
    for table in APPEND_ONLY {
        sql.push_str(&format!(
            "REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {table} FROM {r};\n"
        ));
    }
    for table in READ_ONLY {
        sql.push_str(&format!(
            "REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {table} FROM {r};\n"
        ));
    }
    sql
}

/// Whether a role named `role` exists in the cluster.
pub async fn exists(db: &impl GenericClient, role: &str) -> AppResult<bool> {
    Ok(db.query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role]).await?.is_some())
}

/// Makes `role` (no password) unless it exists. For the managed cluster.
pub async fn ensure(owner: &impl GenericClient, role: &str) -> AppResult<()> {
    if !exists(owner, role).await? {
        match owner.batch_execute(&create_sql(role, None)).await {
            Ok(()) => tracing::info!(role, "created the runtime database role"),
            // Another instance made it first.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_OBJECT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Makes the runtime role `role` with `password` and grants it what it
/// needs, in one batch, as the tables' owner (who needs CREATEROLE).
pub async fn create(owner: &impl GenericClient, role: &str, password: &str) -> AppResult<()> {
    owner
        .batch_execute(&format!("{}\n{}", create_sql(role, Some(password)), grant_sql(role)))
        .await?;
    Ok(())
}

/// Grants `role` what it needs, as the tables' owner.
pub async fn grant(owner: &impl GenericClient, role: &str) -> AppResult<()> {
    owner.batch_execute(&grant_sql(role)).await?;
    Ok(())
}

/// What a connection's role could do beyond the runtime role's rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privileges {
    pub role: String,
    pub superuser: bool,
    /// Tables in `public` the role owns (or is a member of the owner of).
    pub owned_tables: i64,
    /// Whether it may UPDATE or DELETE audit-log rows directly.
    pub can_rewrite_audit_log: bool,
}

impl Privileges {
    /// True when the role is as narrow as the portal asks.
    pub fn least(&self) -> bool {
        !self.superuser && self.owned_tables == 0 && !self.can_rewrite_audit_log
    }

    /// What is too wide, in words, for the start-up warning.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.superuser {
            out.push("is a superuser".to_owned());
        }
        if self.owned_tables > 0 {
            out.push(format!("owns {} of the portal's tables", self.owned_tables));
        }
        if self.can_rewrite_audit_log && !self.superuser && self.owned_tables == 0 {
            out.push("may update or delete audit-log rows".to_owned());
        }
        out
    }
}

/// The privileges of the role `db` is connected as.
pub async fn inspect(db: &impl GenericClient) -> AppResult<Privileges> {
    let row = db
        .query_one(
            "SELECT current_user::text,
                    (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
                    (SELECT count(*) FROM pg_tables
                      WHERE schemaname = 'public' AND pg_has_role(current_user, tableowner, 'USAGE')),
                    coalesce(has_table_privilege('public.client_audit_log', 'UPDATE')
                          OR has_table_privilege('public.client_audit_log', 'DELETE'), false)",
            &[],
        )
        .await?;
    Ok(Privileges {
        role: row.get(0),
        superuser: row.get(1),
        owned_tables: row.get(2),
        can_rewrite_audit_log: row.get(3),
    })
}
