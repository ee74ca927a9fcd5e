//! The users area: the practice's users and its invitations. Owns the
//! transactions, audit entries, invitation mail and the wording of "not
//! found" for the API (`routes/api/users.rs`) and the pages
//! (`routes/pages/users.rs`) alike; SQL lives in `db::users` and
//! `db::invites`.

use std::time::Duration;

use uuid::Uuid;

use crate::audit::user_entry;
use crate::auth::current::{ClientInfo, CurrentUser, require_role};
use crate::auth::flows::{
    INACTIVE, REDEEM_PER_IP, bad_email, finish_sign_in, limit, limit_in, plausible_token,
    require_browser_session,
};
use crate::auth::mfa::SignIn;
use crate::auth::{Role, tokens};
use crate::config::parse_email;
use crate::db::outbox::{self, NewMail};
use crate::db::{api_tokens, audit, invites, sessions, users};
use crate::error::{AppError, AppResult};
use crate::paths;
use crate::reach::no_such_user;
use crate::state::AppState;
use crate::views::emails;

/// Every user of the caller's practice, removed ones included.
pub async fn list_users(
    state: &AppState,
    user: &CurrentUser,
) -> AppResult<Vec<users::UserSummary>> {
    let db = state.pool().get().await?;
    users::list_in_org(&**db, user.org_id).await
}

/// The practice's open (and expired, not yet revoked) invitations.
pub async fn list_invites(
    state: &AppState,
    user: &CurrentUser,
) -> AppResult<Vec<invites::InviteSummary>> {
    let db = state.pool().get().await?;
    invites::list_open(&**db, user.org_id).await
}

/// The name to use in a notice about user `id` (their email when unnamed).
pub async fn user_label(state: &AppState, user: &CurrentUser, id: Uuid) -> AppResult<String> {
    let db = state.pool().get().await?;
    Ok(users::find_in_org(&**db, user.org_id, id)
        .await?
        .map(|u| u.display_name().to_owned())
        .unwrap_or_else(|| "The user".into()))
}

/// The invitation an (untrusted) token points to, read-only: what the page
/// an invitation link opens shows before anything is consumed.
pub async fn invite_by_token(
    state: &AppState,
    token: &str,
) -> AppResult<Option<invites::InviteByToken>> {
    if !plausible_token(token) {
        return Ok(None);
    }
    let db = state.pool().get().await?;
    invites::find_by_token(&**db, &tokens::hash(state.secret(), token)).await
}

/// How long an invitation link works.
pub const INVITE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Invitation mails (new and resent) per practice per window.
const INVITES_PER_ORG: u32 = 100;
/// The longest name a user can give.
pub const MAX_NAME_CHARS: usize = 200;

/// An address that is already a user of the inviter's own practice (which
/// the inviter can see on the users page anyway). An address with an
/// account in another practice gets the same answer as a new one.
pub const EMAIL_IN_PRACTICE: &str = "that email address is already a user of your practice; \
     change their role on the users page instead";
const INVITE_INVALID: &str = "This invitation link is invalid, expired or already used. \
     Ask the person who invited you to send a new invitation.";

/// Only admins and viewers are invited; ownership is transferred, never invited.
fn invitable(role: Role) -> AppResult<Role> {
    match role {
        Role::Admin | Role::Viewer => Ok(role),
        Role::Owner => Err(AppError::BadRequest(
            "invite people as admin or viewer; a practice has one owner".into(),
        )),
        Role::Auditor => Err(AppError::BadRequest(
            "invite auditors by granting them access (POST /api/client/auditors)".into(),
        )),
    }
}

/// A person's name: trimmed, 1 to 200 characters, no control characters.
pub fn clean_name(raw: &str) -> AppResult<String> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(AppError::BadRequest(format!(
            "enter a name of 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

/// An invitation that was just sent (or sent again).
#[derive(Debug)]
pub struct SentInvite {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The open invitation to the same address this one replaced.
    pub replaced: Option<Uuid>,
}

/// Queues the invitation mail inside the caller's transaction; to an address with an account in another
/// practice (`has_account`), a mail saying so instead, without a link. The
/// database work is the same either way.
#[allow(clippy::too_many_arguments)]
async fn enqueue_invite_mail(
    state: &AppState,
    db: &impl tokio_postgres::GenericClient,
    inviter: &CurrentUser,
    email: &str,
    name: Option<&str>,
    role: Role,
    token: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
    has_account: bool,
) -> AppResult<()> {
    let mail = if has_account {
        emails::invite_has_account_email(&inviter.org_name, inviter.display_name())
    } else {
        let link = format!("{}{}?token={token}", state.config().base_url, paths::INVITE);
        emails::invite_email(
            name,
            &inviter.org_name,
            inviter.display_name(),
            role,
            &link,
            expires_at,
        )
    };
    outbox::enqueue(
        db,
        &NewMail {
            to: email.to_owned(),
            subject: mail.subject,
            text: mail.text,
            html: Some(mail.html),
            kind: "invite",
            contains_secret: !has_account,
        },
    )
    .await?;
    Ok(())
}

/// Whether `email` has an account: a 409 when it is one of the practice's
/// own users; `true` when it belongs to another practice (the caller then
/// answers as for a new address and mails the address instead).
async fn account_elsewhere(
    db: &impl tokio_postgres::GenericClient,
    org_id: Uuid,
    email: &str,
) -> AppResult<bool> {
    match users::email_org(db, email).await? {
        Some(org) if org == org_id => Err(AppError::Conflict(EMAIL_IN_PRACTICE.into())),
        Some(_) => Ok(true),
        None => Ok(false),
    }
}

/// An address taken for a new invitation (see [`take_address`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TakenAddress {
    /// It has an account in another practice: the mail says so, without a link.
    pub has_account: bool,
    /// The open invitation to it that was revoked.
    pub replaced: Option<Uuid>,
}

/// Takes `email` for a new invitation inside the caller's transaction:
/// holds the address's invitation lock until the transaction ends, refuses
/// one of the practice's own users (409), and revokes the open invitation
/// to it (whose link stops working).
pub(crate) async fn take_address(
    db: &impl tokio_postgres::GenericClient,
    org_id: Uuid,
    email: &str,
) -> AppResult<TakenAddress> {
    invites::lock_address(db, org_id, email).await?;
    let has_account = account_elsewhere(db, org_id, email).await?;
    let replaced = invites::revoke_open_for_email(db, org_id, email).await?;
    Ok(TakenAddress { has_account, replaced })
}

/// A new invitation to an address [`take_address`] took.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewInvitation<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub role: Role,
    /// The auditor grant it carries, and when that grant ends.
    pub grant: Option<(Uuid, chrono::DateTime<chrono::Utc>)>,
}

/// Issues an invitation inside the caller's transaction: a new token, the
/// stored invitation and its mail, whose link is said to work until the
/// invitation (or, sooner, its grant) expires. Returns the invitation's id
/// and expiry; the caller writes the audit entry and wakes the mailer
/// after commit.
pub(crate) async fn issue_invite(
    state: &AppState,
    db: &impl tokio_postgres::GenericClient,
    inviter: &CurrentUser,
    address: TakenAddress,
    invite: NewInvitation<'_>,
) -> AppResult<(Uuid, chrono::DateTime<chrono::Utc>)> {
    let token = tokens::generate();
    let (id, expires_at) = invites::insert(
        db,
        &invites::NewInvite {
            org_id: inviter.org_id,
            email: invite.email,
            name: invite.name,
            role: invite.role,
            invited_by: inviter.id,
            token_hash: tokens::hash(state.secret(), &token),
            lifetime: INVITE_LIFETIME,
            grant_id: invite.grant.map(|(id, _)| id),
        },
    )
    .await?;
    let link_until = invite.grant.map_or(expires_at, |(_, until)| expires_at.min(until));
    enqueue_invite_mail(
        state,
        db,
        inviter,
        invite.email,
        invite.name,
        invite.role,
        &token,
        link_until,
        address.has_account,
    )
    .await?;
    Ok((id, expires_at))
}

/// Counts one invitation mail against the practice's limit. The hit is
/// committed on its own connection before the invitation's transaction:
/// that transaction rolls back on a 409 (the address has an account), and
/// a hit counted inside it would vanish with it, leaving the 409s free to
/// probe which addresses have accounts.
pub(crate) async fn limit_invites(state: &AppState, user: &CurrentUser) -> AppResult<()> {
    limit(state, format!("invite:org:{}", user.org_id), INVITES_PER_ORG).await
}

/// Invites `raw_email` to the caller's practice with `role`. An address
/// that is already a user of the practice is a 409; one with an account in
/// another practice gets the same answer as a new one (and a mail telling
/// it so instead of a link: nothing to accept); an open invitation to the
/// same address in this practice is replaced (its link stops working).
/// Browser sessions only (403 for API tokens).
pub async fn create_invite(
    state: &AppState,
    user: &CurrentUser,
    raw_email: &str,
    raw_name: Option<&str>,
    role: Role,
    client: &ClientInfo,
) -> AppResult<SentInvite> {
    require_role(user, Role::Admin)?;
    require_browser_session(user)?;
    let email = parse_email(raw_email).ok_or_else(bad_email)?;
    let role = invitable(role)?;
    let name = match raw_name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => Some(clean_name(n)?),
        None => None,
    };
    limit_invites(state, user).await?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let address = take_address(&*tx, user.org_id, &email).await?;
    let (id, expires_at) = issue_invite(
        state,
        &*tx,
        user,
        address,
        NewInvitation { email: &email, name: name.as_deref(), role, grant: None },
    )
    .await?;
    let replaced = address.replaced;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("invite"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({
                "email": email, "role": role.as_str(), "replaced_invite_id": replaced,
            }),
            ..user_entry(user, client, "invite.sent")
        },
    )
    .await?;
    tx.commit().await?;
    state.wake_mailer();
    Ok(SentInvite { id, email, role, expires_at, replaced })
}

/// Revokes an open invitation of the caller's practice.
pub async fn revoke_invite(
    state: &AppState,
    user: &CurrentUser,
    invite_id: Uuid,
    client: &ClientInfo,
) -> AppResult<()> {
    require_role(user, Role::Admin)?;
    require_browser_session(user)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let Some((email, role)) = invites::revoke(&*tx, user.org_id, invite_id).await? else {
        return Err(AppError::NotFound(
            "no open invitation with that id in your practice (it may have been accepted or revoked already)"
                .into(),
        ));
    };
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("invite"),
            target_id: Some(invite_id.to_string()),
            details: serde_json::json!({ "email": email, "role": role.as_str() }),
            ..user_entry(user, client, "invite.revoked")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sends an open (or expired) invitation again with a new link and a new
/// expiry; the old link stops working. Browser sessions only (403 for API
/// tokens).
pub async fn resend_invite(
    state: &AppState,
    user: &CurrentUser,
    invite_id: Uuid,
    client: &ClientInfo,
) -> AppResult<SentInvite> {
    require_role(user, Role::Admin)?;
    require_browser_session(user)?;
    limit_invites(state, user).await?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let not_found = || {
        AppError::NotFound(
            "no open invitation with that id in your practice (it may have been accepted or revoked)"
                .into(),
        )
    };
    let invite = invites::find_open(&*tx, user.org_id, invite_id).await?.ok_or_else(not_found)?;
    // As for a new invitation: an account elsewhere gets the same answer.
    let has_account = account_elsewhere(&*tx, user.org_id, &invite.email).await?;
    let token = tokens::generate();
    let expires_at = invites::renew(
        &*tx,
        user.org_id,
        invite_id,
        &tokens::hash(state.secret(), &token),
        INVITE_LIFETIME,
    )
    .await?
    .ok_or_else(not_found)?;
    enqueue_invite_mail(
        state,
        &*tx,
        user,
        &invite.email,
        invite.name.as_deref(),
        invite.role,
        &token,
        expires_at,
        has_account,
    )
    .await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("invite"),
            target_id: Some(invite_id.to_string()),
            details: serde_json::json!({
                "email": invite.email, "role": invite.role.as_str(), "was_expired": invite.expired,
            }),
            ..user_entry(user, client, "invite.resent")
        },
    )
    .await?;
    tx.commit().await?;
    state.wake_mailer();
    Ok(SentInvite {
        id: invite_id,
        email: invite.email,
        role: invite.role,
        expires_at,
        replaced: None,
    })
}

/// Accepts an invitation (once): creates the user in the inviting practice
/// with the invited role, verified address and no backlog of unread
/// notifications, and signs them in.
pub async fn accept_invite(
    state: &AppState,
    token: &str,
    raw_name: &str,
    client: &ClientInfo,
) -> AppResult<SignIn> {
    let name = clean_name(raw_name)?;
    let token = token.trim();
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    limit_in(&*tx, format!("invite:ip:{}", client.ip_key()), REDEEM_PER_IP).await?;
    let claimed = if plausible_token(token) {
        invites::lock_usable(&*tx, &tokens::hash(state.secret(), token)).await?
    } else {
        None
    };
    let Some(invite) = claimed else {
        // A token that names no invitation: counted per client address, not
        // audited (anyone can send these; no practice's log is their place).
        crate::db::anonymous::count_attempt(&*tx, "invite_invalid_token", &client.ip_key()).await?;
        tx.commit().await?;
        return Err(AppError::Unauthorized(INVITE_INVALID.into()));
    };
    if !invite.org_active {
        return Err(AppError::Forbidden(INACTIVE.into()));
    }
    if users::email_taken(&*tx, &invite.email).await? {
        return Err(AppError::Conflict(
            "this email address already has an OsirisCare portal account: sign in with it instead"
                .into(),
        ));
    }
    let user_id =
        users::insert_invited(&*tx, invite.org_id, &invite.email, &name, invite.role).await?;
    if !invites::mark_accepted(&*tx, invite.id, user_id).await? {
        return Err(AppError::Unauthorized(INVITE_INVALID.into()));
    }
    if let Some(grant_id) = invite.grant_id
        && !crate::db::auditors::take_up(&*tx, grant_id, user_id).await?
    {
        return Err(AppError::Forbidden(
            "this auditor access has been revoked or has expired; ask the practice for a new grant"
                .into(),
        ));
    }
    audit::record(
        &*tx,
        &audit::Entry {
            org_id: Some(invite.org_id),
            actor_user_id: Some(user_id),
            actor_email: Some(&invite.email),
            action: "invite.accepted",
            target_type: Some("invite"),
            target_id: Some(invite.id.to_string()),
            ip: client.ip,
            user_agent: client.user_agent.as_deref(),
            details: serde_json::json!({
                "role": invite.role.as_str(), "invited_by": invite.invited_by, "user_id": user_id,
            }),
        },
    )
    .await?;
    let user = users::find_by_id(&*tx, user_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the invited user vanished")))?;
    finish_sign_in(state, tx, &user, "invite", client).await
}

/// Removes (deactivates) a user of the caller's practice: their sessions,
/// API tokens and the open invitations they sent are revoked in the same
/// transaction. Nobody removes themselves or the owner; only the owner
/// removes an admin. Removing a user who is already removed changes nothing.
pub async fn remove_user(
    state: &AppState,
    actor: &CurrentUser,
    target_id: Uuid,
    client: &ClientInfo,
) -> AppResult<()> {
    require_role(actor, Role::Admin)?;
    require_browser_session(actor)?;
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let target =
        users::lock_in_org(&*tx, actor.org_id, target_id).await?.ok_or_else(no_such_user)?;
    if target.id == actor.id {
        return Err(AppError::Forbidden(
            "you cannot remove yourself; another admin or the owner can".into(),
        ));
    }
    if target.role == Role::Owner {
        return Err(AppError::Forbidden(
            "the practice owner cannot be removed; ownership stays with them".into(),
        ));
    }
    if target.role == Role::Admin && actor.role != Role::Owner {
        return Err(AppError::Forbidden("only the practice owner can remove an admin".into()));
    }
    if !target.is_active {
        return Ok(());
    }
    users::deactivate(&*tx, target.id).await?;
    let sessions_revoked = sessions::revoke_other_sessions(&*tx, target.id, None).await?;
    let tokens_revoked = api_tokens::revoke_for_user(&*tx, target.id).await?;
    // Their invitations would otherwise outlive them: an admin could invite
    // a second address of their own, be removed, and accept.
    let invites_revoked = invites::revoke_open_by_inviter(&*tx, actor.org_id, target.id).await?;
    audit::record(
        &*tx,
        &audit::Entry {
            target_type: Some("user"),
            target_id: Some(target.id.to_string()),
            details: serde_json::json!({
                "email": target.email, "role": target.role.as_str(),
                "sessions_revoked": sessions_revoked, "api_tokens_revoked": tokens_revoked,
                "invites_revoked": invites_revoked,
            }),
            ..user_entry(actor, client, "user.removed")
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes a user's role (owner only, browser session; admin or viewer).
/// The change applies from the user's next request: sessions read the role
/// afresh each time. A user made a viewer loses, in the same transaction,
/// the open invitations they sent (viewers cannot invite) and their API
/// tokens (viewers cannot hold them; a demoted admin's script stops).
pub async fn set_user_role(
    state: &AppState,
    actor: &CurrentUser,
    target_id: Uuid,
    role: Role,
    client: &ClientInfo,
) -> AppResult<users::UserSummary> {
    require_role(actor, Role::Owner)?;
    require_browser_session(actor)?;
    let role = match role {
        Role::Owner => {
            return Err(AppError::BadRequest(
                "a role can be admin or viewer; ownership is transferred, not assigned".into(),
            ));
        }
        Role::Auditor => {
            return Err(AppError::BadRequest(
                "a role can be admin or viewer; auditors get access through a grant".into(),
            ));
        }
        r => r,
    };
    let mut db = state.pool().get().await?;
    let tx = db.transaction().await?;
    let mut target =
        users::lock_in_org(&*tx, actor.org_id, target_id).await?.ok_or_else(no_such_user)?;
    if target.id == actor.id {
        return Err(AppError::Forbidden("you cannot change your own role".into()));
    }
    if target.role == Role::Owner {
        return Err(AppError::Forbidden("the owner's role cannot be changed".into()));
    }
    if target.role == Role::Auditor {
        return Err(AppError::Forbidden(
            "an auditor's access is changed through their grant, not a role".into(),
        ));
    }
    if !target.is_active {
        return Err(AppError::Conflict(
            "this user has been removed; their role cannot be changed".into(),
        ));
    }
    if target.role != role {
        users::set_role(&*tx, target.id, role).await?;
        let (invites_revoked, tokens_revoked) = if role < target.role {
            (
                invites::revoke_open_by_inviter(&*tx, actor.org_id, target.id).await?,
                api_tokens::revoke_for_user(&*tx, target.id).await?,
            )
        } else {
            (0, 0)
        };
        audit::record(
            &*tx,
            &audit::Entry {
                target_type: Some("user"),
                target_id: Some(target.id.to_string()),
                details: serde_json::json!({
                    "email": target.email, "from": target.role.as_str(), "to": role.as_str(),
                    "invites_revoked": invites_revoked, "api_tokens_revoked": tokens_revoked,
                }),
                ..user_entry(actor, client, "user.role_changed")
            },
        )
        .await?;
        target.role = role;
    }
    tx.commit().await?;
    Ok(target)
}
