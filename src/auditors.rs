//! Auditor access: an owner or admin grants an outside auditor read-only
//! access to the practice until a date, optionally limited to some sites
//! and a period of evidence. The grant travels in an invitation (the
//! auditor accepts it like anyone else and becomes a user with the role
//! `auditor`); extending or narrowing it changes the grant, and revoking
//! it (or its expiry) ends the auditor's sessions and tokens at once,
//! because every session and token lookup reads the grant
//! (`db::auditors::GRANT_IS_LIVE`). Owns the transactions, audit entries
//! and wording for the API (`routes/api/auditors.rs`).

use chrono::{Duration, NaiveDate, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::audit::user_entry;
use crate::auth::Role;
use crate::auth::current::{ClientInfo, CurrentUser, require_role};
use crate::auth::flows::{bad_email, require_browser_session};
use crate::config::parse_email;
use crate::db::auditors::{self as store, Grant};
use crate::db::{api_tokens, audit, invites, sessions};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Longest grant, in days.
pub const MAX_DAYS: i32 = 365;
/// A grant's length when none is given, in days.
pub const DEFAULT_DAYS: i32 = 30;
/// Longest name and firm.
pub const MAX_LABEL_CHARS: usize = 100;
/// Most sites one grant names.
pub const MAX_SITES: usize = 100;

fn no_such_grant() -> AppError {
    AppError::NotFound("no such auditor grant in your practice".into())
}

/// What a grant says, as asked for.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// None: every site of the practice.
    pub site_ids: Option<Vec<Uuid>>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// A new grant, as asked for.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub email: String,
    pub name: String,
    pub firm: String,
    pub days: Option<i32>,
    pub scope: Scope,
}

/// A change to a grant: each field left None stays as it is.
#[derive(Debug, Clone, Default)]
pub struct GrantChange {
    /// A new expiry, this many days from now.
    pub days: Option<i32>,
    pub site_ids: Option<Option<Vec<Uuid>>>,
    pub from: Option<Option<NaiveDate>>,
    pub to: Option<Option<NaiveDate>>,
}

pub use crate::db::auditors::GrantStatus;

fn days(raw: Option<i32>) -> AppResult<i32> {
    let d = raw.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&d) {
        return Err(AppError::BadRequest(format!(
            "expires_in_days must be 1 to {MAX_DAYS}; it was {d}"
        )));
    }
    Ok(d)
}

fn label(raw: &str, what: &str) -> AppResult<String> {
    let v = raw.trim();
    if v.is_empty() || v.chars().count() > MAX_LABEL_CHARS || v.chars().any(char::is_control) {
        return Err(AppError::BadRequest(format!(
            "enter the auditor's {what}: 1 to {MAX_LABEL_CHARS} characters"
        )));
    }
    Ok(v.to_owned())
}

fn period(from: Option<NaiveDate>, to: Option<NaiveDate>) -> AppResult<()> {
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        // Well-formed but impossible: 422, as for evidence packs.
        return Err(AppError::Unprocessable(format!(
            "the period starts ({f}) after it ends ({t}); give from on or before to"
        )));
    }
    Ok(())
}

/// Checks that every named site is one of the practice's (404 otherwise:
/// another practice's site is not found) and removes repeats.
async fn sites(
    db: &impl GenericClient,
    org_id: Uuid,
    raw: Option<Vec<Uuid>>,
) -> AppResult<Option<Vec<Uuid>>> {
    let Some(mut ids) = raw else { return Ok(None) };
    ids.sort();
    ids.dedup();
    if ids.is_empty() || ids.len() > MAX_SITES {
        return Err(AppError::BadRequest(format!(
            "site_ids names 1 to {MAX_SITES} sites, or leave it out for every site"
        )));
    }
    if store::count_sites(db, org_id, &ids).await? != ids.len() as i64 {
        return Err(AppError::NotFound("a site in site_ids is not a site of your practice".into()));
    }
    Ok(Some(ids))
}

/// The practice's grants, newest first (owner, admin).
pub async fn list(state: &AppState, user: &CurrentUser) -> AppResult<Vec<Grant>> {
    require_role(user, Role::Admin)?;
    let db = state.pool().get().await?;
    store::list(&**db, user.org_id).await
}

/// Grants access and emails the auditor an invitation to take it up (owner,
/// admin, from a browser session: a leaked API token cannot let someone in).
/// An address with an account is handled as for any invitation (a 409 in
/// this practice, the same answer as a new address in another); a
/// grant to the same address not taken up yet is replaced (revoked).
pub async fn grant(
    state: &AppState,
    user: &CurrentUser,
    req: GrantRequest,
    client: &ClientInfo,
) -> AppResult<Grant> {
    require_role(user, Role::Admin)?;
    require_browser_session(user)?;
    let email = parse_email(&req.email).ok_or_else(bad_email)?;
    let name = label(&req.name, "name")?;
    let firm = label(&req.firm, "firm")?;
    let days = days(req.days)?;
    period(req.scope.from, req.scope.to)?;
    crate::users::limit_invites(state, user).await?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let site_ids = sites(&*tx, user.org_id, req.scope.site_ids).await?;
    let address = crate::users::take_address(&*tx, user.org_id, &email).await?;
    let replaced = store::revoke_untaken_for_email(&*tx, user.org_id, &email).await?;
    let granted = store::insert(
        &*tx,
        &store::NewGrant {
            org_id: user.org_id,
            email: &email,
            name: &name,
            firm: &firm,
            days,
            site_ids: site_ids.as_deref(),
            period_from: req.scope.from,
            period_to: req.scope.to,
            granted_by: user.id,
        },
    )
    .await?;
    let (invite_id, _) = crate::users::issue_invite(
        state,
        &*tx,
        user,
        address,
        crate::users::NewInvitation {
            email: &email,
            name: Some(&name),
            role: Role::Auditor,
            grant: Some((granted.id, granted.expires_at)),
        },
    )
    .await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("auditor_grant"),
            target_id: Some(granted.id.to_string()),
            details: serde_json::json!({
                "email": email, "firm": firm, "expires_at": granted.expires_at,
                "site_ids": granted.site_ids, "from": granted.period_from, "to": granted.period_to,
                "invite_id": invite_id, "replaced_grants": replaced,
            }),
            ..user_entry(user, client, "auditor.granted")
        },
    )
    .await?;
    tx.commit().await?;
    state.wake_mailer();
    Ok(granted)
}

/// Extends a grant or changes its scope (owner, admin, browser session).
/// A revoked or expired grant stays so: grant again instead.
pub async fn change(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    change: GrantChange,
    client: &ClientInfo,
) -> AppResult<Grant> {
    require_role(user, Role::Admin)?;
    require_browser_session(user)?;
    let new_days = change.days.map(|d| days(Some(d))).transpose()?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let old = store::lock(&*tx, user.org_id, id).await?.ok_or_else(no_such_grant)?;
    match GrantStatus::of(&old, Utc::now()) {
        GrantStatus::Revoked => {
            return Err(AppError::Conflict(
                "this grant was revoked; grant the auditor access again instead".into(),
            ));
        }
        GrantStatus::Expired => {
            return Err(AppError::Conflict(
                "this grant has expired; grant the auditor access again instead".into(),
            ));
        }
        GrantStatus::Invited | GrantStatus::Active => {}
    }
    let site_ids = match change.site_ids {
        Some(ids) => sites(&*tx, user.org_id, ids).await?,
        None => old.site_ids.clone(),
    };
    let from = change.from.unwrap_or(old.period_from);
    let to = change.to.unwrap_or(old.period_to);
    period(from, to)?;
    let expires_at = match new_days {
        Some(d) => Utc::now() + Duration::days(i64::from(d)),
        None => old.expires_at,
    };
    let new = store::update(
        &*tx,
        id,
        &store::Terms {
            expires_at,
            site_ids: site_ids.as_deref(),
            period_from: from,
            period_to: to,
        },
    )
    .await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("auditor_grant"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({
                "email": new.email,
                "before": { "expires_at": old.expires_at, "site_ids": old.site_ids, "from": old.period_from, "to": old.period_to },
                "after": { "expires_at": new.expires_at, "site_ids": new.site_ids, "from": new.period_from, "to": new.period_to },
            }),
            ..user_entry(user, client, "auditor.grant_changed")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(new)
}

/// Revokes a grant (owner, admin, browser session): its invitation stops working and the
/// auditor's sessions and tokens end now. Revoking twice changes nothing.
pub async fn revoke(
    state: &AppState,
    user: &CurrentUser,
    id: Uuid,
    client: &ClientInfo,
) -> AppResult<()> {
    require_role(user, Role::Admin)?;
    require_browser_session(user)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let g = store::lock(&*tx, user.org_id, id).await?.ok_or_else(no_such_grant)?;
    if !store::revoke(&*tx, id).await? {
        return Ok(());
    }
    invites::revoke_open_for_email(&*tx, user.org_id, &g.email).await?;
    let (sessions_revoked, tokens_revoked) = match g.user_id {
        Some(auditor) => (
            sessions::revoke_other_sessions(&*tx, auditor, None).await?,
            api_tokens::revoke_for_user(&*tx, auditor).await?,
        ),
        None => (0, 0),
    };
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("auditor_grant"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({
                "email": g.email, "user_id": g.user_id,
                "sessions_revoked": sessions_revoked, "tokens_revoked": tokens_revoked,
            }),
            ..user_entry(user, client, "auditor.revoked")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The live grant of a signed-in auditor (None for other roles).
pub async fn grant_of(state: &AppState, user: &CurrentUser) -> AppResult<Option<Grant>> {
    if user.role != Role::Auditor {
        return Ok(None);
    }
    let db = state.pool().get().await?;
    store::live_for_user(&**db, user.id).await
}
