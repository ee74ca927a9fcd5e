//! Pages of the users area: `/client/users` (admin+: users, invite form,
//! open invitations; every action updates its section in place with htmx
//! and falls back to a redirect without JS) and `/client/invite` (the page
//! an invitation link opens, and its POST that accepts).

use maud::Markup;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query};
use poem::{IntoResponse, Request, Response, Route, get, handler, post};
use serde::Deserialize;
use uuid::Uuid;

use super::respond::{self, Fix, is_htmx, see_other};
use crate::auth::Role;
use crate::auth::csrf;
use crate::auth::current::{Admin, ClientInfo, CurrentUser, Owner};
use crate::db::invites;
use crate::error::{AppError, AppResult};
use crate::paths::{self, route};
use crate::state::AppState;
use crate::users;
use crate::views::layout::NavUser;
use crate::views::users::{self as view, Actor, InviteFormValues, UsersData};

/// Adds this area's pages to the portal's routes.
pub fn routes(app: Route) -> Route {
    app.at(paths::USERS, get(view_users_get))
        .at(paths::USERS_INVITE, post(view_users_invite_post))
        .at(route::USER_REMOVE, post(view_users_remove_post))
        .at(route::USER_ROLE, post(view_users_role_post))
        .at(route::USER_MFA_RESET, post(view_users_mfa_reset_post))
        .at(route::INVITE_REVOKE, post(view_users_invite_revoke_post))
        .at(route::INVITE_RESEND, post(view_users_invite_resend_post))
        .at(paths::INVITE, get(view_invite_get).post(view_invite_post))
        .at(paths::AUDITORS, post(super::auditors::view_auditors_grant_post))
        .at(route::AUDITOR_EXTEND, post(super::auditors::view_auditors_extend_post))
        .at(route::AUDITOR_REVOKE, post(super::auditors::view_auditors_revoke_post))
}

async fn actor<'a>(state: &AppState, user: &'a CurrentUser) -> AppResult<Actor<'a>> {
    Ok(Actor {
        id: user.id,
        role: user.role,
        csrf_token: user.csrf_token().unwrap_or(""),
        enrolled: crate::auth::mfa::enrolled_users(state, user).await?,
    })
}

async fn full_page(
    state: &AppState,
    user: &CurrentUser,
    values: InviteFormValues,
    error: Option<&str>,
) -> AppResult<Markup> {
    let list = users::list_users(state, user).await?;
    let open = users::list_invites(state, user).await?;
    let grants = crate::auditors::list(state, user).await?;
    Ok(view::users_page(
        &NavUser::of(user),
        &UsersData {
            actor: actor(state, user).await?,
            users: &list,
            invites: &open,
            invite_values: values,
            invite_error: error,
            auditors: crate::views::auditors::AuditorsData {
                csrf_token: user.csrf_token().unwrap_or(""),
                grants: &grants,
                form: Default::default(),
                error: None,
                notice: None,
            },
        },
    ))
}

#[handler]
pub async fn view_users_get(state: Data<&AppState>, Admin(user): Admin) -> AppResult<Markup> {
    full_page(&state, &user, InviteFormValues::default(), None).await
}

#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

/// htmx gets the invite form back (cleared, with a notice) plus the open
/// invitations out of band; without htmx, a redirect. A problem the user
/// can fix (or too many invitations) is the form as submitted with the
/// message: the section for htmx, the whole page otherwise.
#[handler]
pub async fn view_users_invite_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Form(form): Form<InviteForm>,
) -> AppResult<Response> {
    let csrf = user.csrf_token().unwrap_or("");
    let sent = match form.role.trim().parse::<Role>() {
        Ok(role @ (Role::Admin | Role::Viewer)) => respond::form(
            users::create_invite(
                &state,
                &user,
                &form.email,
                Some(&form.name),
                role,
                &ClientInfo::of(req),
            )
            .await,
        )?,
        _ => Err(Fix::new("choose the role: admin or viewer")),
    };
    match sent {
        Ok(sent) => {
            if !is_htmx(req) {
                return Ok(see_other(paths::USERS));
            }
            let open = users::list_invites(&state, &user).await?;
            let notice = format!(
                "Invitation sent to {} as {}. The link works for 7 days.",
                sent.email, sent.role
            );
            Ok(maud::html! {
                (view::invite_section(csrf, &InviteFormValues::default(), None, Some(&notice)))
                (view::invites_section(csrf, &open, None, true))
            }
            .into_response())
        }
        Err(fix) => {
            let values = InviteFormValues { email: form.email, name: form.name, role: form.role };
            let body = if is_htmx(req) {
                view::invite_section(csrf, &values, Some(&fix.message), None)
            } else {
                full_page(&state, &user, values, Some(&fix.message)).await?
            };
            Ok(fix.render(body))
        }
    }
}

/// The users table after an action, or a redirect without htmx.
async fn users_fragment(
    state: &AppState,
    req: &Request,
    user: &CurrentUser,
    message: &str,
) -> AppResult<Response> {
    if !is_htmx(req) {
        return Ok(see_other(paths::USERS));
    }
    let list = users::list_users(state, user).await?;
    Ok(view::users_section(&actor(state, user).await?, &list, Some(message)).into_response())
}

async fn invites_fragment(
    state: &AppState,
    req: &Request,
    user: &CurrentUser,
    message: &str,
) -> AppResult<Response> {
    if !is_htmx(req) {
        return Ok(see_other(paths::USERS));
    }
    let open = users::list_invites(state, user).await?;
    Ok(view::invites_section(user.csrf_token().unwrap_or(""), &open, Some(message), false)
        .into_response())
}

#[handler]
pub async fn view_users_remove_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    users::remove_user(&state, &user, id, &ClientInfo::of(req)).await?;
    let who = users::user_label(&state, &user, id).await?;
    let message = format!("{who} was removed and signed out everywhere.");
    users_fragment(&state, req, &user, &message).await
}

/// Removes someone's second factors (they lost their phone).
#[handler]
pub async fn view_users_mfa_reset_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    crate::auth::mfa::reset_user(&state, &user, id, &ClientInfo::of(req)).await?;
    let who = users::user_label(&state, &user, id).await?;
    let message = format!(
        "{who}'s authenticator app, passkeys and recovery codes were removed; they were emailed \
         to set up new ones."
    );
    users_fragment(&state, req, &user, &message).await
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

#[handler]
pub async fn view_users_role_post(
    state: Data<&AppState>,
    req: &Request,
    Owner(user): Owner,
    Path(id): Path<Uuid>,
    Form(form): Form<RoleForm>,
) -> AppResult<Response> {
    let role = form
        .role
        .parse::<Role>()
        .map_err(|_| AppError::BadRequest("choose the role: admin or viewer".into()))?;
    let updated = users::set_user_role(&state, &user, id, role, &ClientInfo::of(req)).await?;
    let message = format!("{} is now {}.", updated.display_name(), updated.role);
    users_fragment(&state, req, &user, &message).await
}

#[handler]
pub async fn view_users_invite_revoke_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    users::revoke_invite(&state, &user, id, &ClientInfo::of(req)).await?;
    invites_fragment(&state, req, &user, "Invitation revoked; its link no longer works.").await
}

#[handler]
pub async fn view_users_invite_resend_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let sent = users::resend_invite(&state, &user, id, &ClientInfo::of(req)).await?;
    let message =
        format!("Invitation sent to {} again with a new link, valid for 7 days.", sent.email);
    invites_fragment(&state, req, &user, &message).await
}

/// No `Debug`: it holds a secret.
#[derive(Deserialize)]
pub struct InviteQuery {
    #[serde(default)]
    token: String,
}

/// An invitation page with `status` (the shell adds `no-store`: the URL
/// carries the token).
fn answer(markup: Markup, status: StatusCode) -> Response {
    respond::html(status, markup, None)
}

/// Shows the invitation and a name form; consumes nothing.
#[handler]
pub async fn view_invite_get(
    state: Data<&AppState>,
    Query(q): Query<InviteQuery>,
) -> AppResult<Response> {
    let token = q.token.trim();
    Ok(match users::invite_by_token(&state, token).await? {
        Some(invite) if invite.state == invites::InviteState::Open => answer(
            view::accept_page(&invite, token, invite.name.as_deref().unwrap_or(""), None),
            StatusCode::OK,
        ),
        Some(invite) => answer(view::invite_unusable_page(Some(invite.state)), StatusCode::GONE),
        None => answer(view::invite_unusable_page(None), StatusCode::NOT_FOUND),
    })
}

/// No `Debug`: it holds a secret.
#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
}

/// Accepts the invitation, sets the session cookie and opens the
/// dashboard. No session exists yet, so cross-site forgery is stopped by
/// the Origin / Sec-Fetch-Site check, as on the sign-in forms.
#[handler]
pub async fn view_invite_post(
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<AcceptForm>,
) -> poem::Result<Response> {
    csrf::check_origin(req, state.config())?;
    let token = form.token.trim();
    match users::accept_invite(&state, token, &form.name, &ClientInfo::of(req)).await {
        Ok(signed_in) => Ok(super::auth::signed_in_to(signed_in, paths::DASHBOARD)),
        Err(AppError::BadRequest(message)) => {
            // The name was wrong: show the form again, if the link still works.
            let fix = Fix::new(message);
            Ok(match users::invite_by_token(&state, token).await? {
                Some(invite) if invite.state == invites::InviteState::Open => fix.render(
                    view::accept_page(&invite, token, form.name.trim(), Some(&fix.message)),
                ),
                other => {
                    answer(view::invite_unusable_page(other.map(|i| i.state)), StatusCode::GONE)
                }
            })
        }
        Err(e @ AppError::Unauthorized(_)) => {
            let found = users::invite_by_token(&state, token).await?;
            Ok(answer(view::invite_unusable_page(found.map(|i| i.state)), e.status()))
        }
        Err(e @ AppError::Conflict(_)) => Ok(answer(
            view::invite_problem_page("You already have an account", &e.to_string(), true),
            e.status(),
        )),
        Err(e @ AppError::Forbidden(_)) => Ok(answer(
            view::invite_problem_page("This invitation cannot be accepted", &e.to_string(), false),
            e.status(),
        )),
        Err(e) => Err(e.into()),
    }
}
