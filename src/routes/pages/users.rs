//! Pages of the users area: `/client/users` (admin+: users, invite form,
//! open invitations; every action updates its section in place with htmx
//! and falls back to a redirect without JS) and `/client/invite` (the page
//! an invitation link opens, and its POST that accepts).

use maud::Markup;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query, Redirect};
use poem::{IntoResponse, Request, Response, Route, get, handler, post};
use serde::Deserialize;
use uuid::Uuid;

use super::is_htmx;
use crate::auth::current::{Admin, ClientInfo, CurrentUser, Owner};
use crate::auth::{Role, csrf, flows, tokens};
use crate::db::{invites, users};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::views::layout::NavUser;
use crate::views::users::{self as view, Actor, InviteFormValues, UsersData};

const USERS_PAGE: &str = "/client/users";
const AFTER_SIGN_IN: &str = "/client/dashboard";

/// Adds this area's pages to the portal's routes.
pub fn routes(app: Route) -> Route {
    app.at(USERS_PAGE, get(view_users_get))
        .at("/client/users/invite", post(view_users_invite_post))
        .at("/client/users/:id/remove", post(view_users_remove_post))
        .at("/client/users/:id/role", post(view_users_role_post))
        .at("/client/users/invites/:id/revoke", post(view_users_invite_revoke_post))
        .at("/client/users/invites/:id/resend", post(view_users_invite_resend_post))
        .at("/client/invite", get(view_invite_get).post(view_invite_post))
}

fn actor(user: &CurrentUser) -> Actor<'_> {
    Actor { id: user.id, role: user.role, csrf_token: user.csrf_token().unwrap_or("") }
}

async fn full_page(
    state: &AppState,
    user: &CurrentUser,
    values: InviteFormValues,
    error: Option<&str>,
) -> AppResult<Markup> {
    let db = state.pool().get().await?;
    let list = users::list_in_org(&**db, user.org_id).await?;
    let open = invites::list_open(&**db, user.org_id).await?;
    Ok(view::users_page(
        &NavUser::of(user),
        &UsersData {
            actor: actor(user),
            users: &list,
            invites: &open,
            invite_values: values,
            invite_error: error,
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
/// invitations out of band; a validation error is a 422 with the form as
/// submitted and the message. Without htmx: a redirect, or the whole page.
/// Too many invitations is a 429 with Retry-After either way: htmx swaps no
/// 429, so it gets the usual error (its message in a toast); without htmx
/// the whole page shows the form with the message.
#[handler]
pub async fn view_users_invite_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Form(form): Form<InviteForm>,
) -> AppResult<Response> {
    let csrf = user.csrf_token().unwrap_or("");
    let values = InviteFormValues {
        email: form.email.clone(),
        name: form.name.clone(),
        role: form.role.clone(),
    };
    let role = match form.role.trim().parse::<Role>() {
        Ok(r @ (Role::Admin | Role::Viewer)) => Ok(r),
        _ => Err(AppError::BadRequest("choose the role: admin or viewer".into())),
    };
    let result = match role {
        Ok(role) => {
            flows::create_invite(
                &state,
                &user,
                &form.email,
                Some(&form.name),
                role,
                &ClientInfo::of(req),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(sent) => {
            if !is_htmx(req) {
                return Ok(Redirect::see_other(USERS_PAGE).into_response());
            }
            let db = state.pool().get().await?;
            let open = invites::list_open(&**db, user.org_id).await?;
            let notice = format!(
                "Invitation sent to {} as {}. The link works for 7 days.",
                sent.email, sent.role
            );
            let body = maud::html! {
                (view::invite_section(csrf, &InviteFormValues::default(), None, Some(&notice)))
                (view::invites_section(csrf, &open, None, true))
            };
            Ok(body.into_response())
        }
        Err(e @ AppError::TooManyRequests { .. }) if is_htmx(req) => Err(e),
        Err(
            e
            @ (AppError::BadRequest(_) | AppError::Conflict(_) | AppError::TooManyRequests { .. }),
        ) => {
            let message = e.to_string();
            let body = if is_htmx(req) {
                view::invite_section(csrf, &values, Some(&message), None)
            } else {
                full_page(&state, &user, values, Some(&message)).await?
            };
            Ok(match e {
                AppError::TooManyRequests { retry_after_secs, .. } => body
                    .with_status(StatusCode::TOO_MANY_REQUESTS)
                    .with_header("retry-after", retry_after_secs.to_string())
                    .into_response(),
                _ => body.with_status(StatusCode::UNPROCESSABLE_ENTITY).into_response(),
            })
        }
        Err(e) => Err(e),
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
        return Ok(Redirect::see_other(USERS_PAGE).into_response());
    }
    let db = state.pool().get().await?;
    let list = users::list_in_org(&**db, user.org_id).await?;
    Ok(view::users_section(actor(user), &list, Some(message)).into_response())
}

async fn invites_fragment(
    state: &AppState,
    req: &Request,
    user: &CurrentUser,
    message: &str,
) -> AppResult<Response> {
    if !is_htmx(req) {
        return Ok(Redirect::see_other(USERS_PAGE).into_response());
    }
    let db = state.pool().get().await?;
    let open = invites::list_open(&**db, user.org_id).await?;
    Ok(view::invites_section(user.csrf_token().unwrap_or(""), &open, Some(message), false)
        .into_response())
}

/// The name to use in a notice about user `id` (their email when unnamed).
async fn user_label(state: &AppState, org_id: Uuid, id: Uuid) -> AppResult<String> {
    let db = state.pool().get().await?;
    Ok(users::find_in_org(&**db, org_id, id)
        .await?
        .map(|u| u.display_name().to_owned())
        .unwrap_or_else(|| "The user".into()))
}

#[handler]
pub async fn view_users_remove_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    flows::remove_user(&state, &user, id, &ClientInfo::of(req)).await?;
    let who = user_label(&state, user.org_id, id).await?;
    let message = format!("{who} was removed and signed out everywhere.");
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
    let updated = flows::set_user_role(&state, &user, id, role, &ClientInfo::of(req)).await?;
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
    flows::revoke_invite(&state, &user, id, &ClientInfo::of(req)).await?;
    invites_fragment(&state, req, &user, "Invitation revoked; its link no longer works.").await
}

#[handler]
pub async fn view_users_invite_resend_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let sent = flows::resend_invite(&state, &user, id, &ClientInfo::of(req)).await?;
    let message =
        format!("Invitation sent to {} again with a new link, valid for 7 days.", sent.email);
    invites_fragment(&state, req, &user, &message).await
}

#[derive(Debug, Deserialize)]
pub struct InviteQuery {
    #[serde(default)]
    token: String,
}

fn no_store(markup: Markup, status: StatusCode) -> Response {
    markup.with_status(status).with_header("cache-control", "no-store").into_response()
}

/// The invitation an (untrusted) token points to, read-only.
async fn lookup(state: &AppState, token: &str) -> AppResult<Option<invites::InviteByToken>> {
    if !flows::plausible_token(token) {
        return Ok(None);
    }
    let db = state.pool().get().await?;
    invites::find_by_token(&**db, &tokens::hash(state.secret(), token)).await
}

/// Shows the invitation and a name form; consumes nothing.
#[handler]
pub async fn view_invite_get(
    state: Data<&AppState>,
    Query(q): Query<InviteQuery>,
) -> AppResult<Response> {
    let token = q.token.trim();
    Ok(match lookup(&state, token).await? {
        Some(invite) if invite.state == invites::InviteState::Open => no_store(
            view::accept_page(&invite, token, invite.name.as_deref().unwrap_or(""), None),
            StatusCode::OK,
        ),
        Some(invite) => no_store(view::invite_unusable_page(Some(invite.state)), StatusCode::GONE),
        None => no_store(view::invite_unusable_page(None), StatusCode::NOT_FOUND),
    })
}

#[derive(Debug, Deserialize)]
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
    match flows::accept_invite(&state, token, &form.name, &ClientInfo::of(req)).await {
        Ok(signed_in) => Ok(Redirect::see_other(AFTER_SIGN_IN)
            .with_header("set-cookie", signed_in.session.set_cookie)
            .into_response()),
        Err(AppError::BadRequest(message)) => {
            // The name was wrong: show the form again, if the link still works.
            Ok(match lookup(&state, token).await? {
                Some(invite) if invite.state == invites::InviteState::Open => no_store(
                    view::accept_page(&invite, token, form.name.trim(), Some(&message)),
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                other => {
                    no_store(view::invite_unusable_page(other.map(|i| i.state)), StatusCode::GONE)
                }
            })
        }
        Err(e @ AppError::Unauthorized(_)) => {
            let found = lookup(&state, token).await?;
            Ok(no_store(view::invite_unusable_page(found.map(|i| i.state)), e.status()))
        }
        Err(e @ AppError::Conflict(_)) => Ok(no_store(
            view::invite_problem_page("You already have an account", &e.to_string(), true),
            e.status(),
        )),
        Err(e @ AppError::Forbidden(_)) => Ok(no_store(
            view::invite_problem_page("This invitation cannot be accepted", &e.to_string(), false),
            e.status(),
        )),
        Err(e) => Err(e.into()),
    }
}
