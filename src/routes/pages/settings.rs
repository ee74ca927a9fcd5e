//! Settings: password, sessions and API tokens, each section updated in
//! place by htmx.

use maud::Markup;
use poem::web::{Data, Form, Path};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use uuid::Uuid;

use super::respond;
use crate::auth::current::{Admin, ClientInfo, CurrentUser, Viewer};
use crate::auth::flows;
use crate::auth::{Role, Scope};
use crate::db::{api_tokens, notifications, sessions, users};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::views::layout::NavUser;
use crate::views::settings::{self, SettingsData};

#[handler]
pub async fn view_settings_get(state: Data<&AppState>, Viewer(user): Viewer) -> AppResult<Markup> {
    let db = state.pool().get().await?;
    let record = users::find_by_id(&**db, user.id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("sign in again".into()))?;
    let sessions =
        sessions::list_sessions(&**db, user.id, state.config().session_idle_timeout).await?;
    let email_prefs = notifications::preferences(&**db, user.org_id, user.id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("sign in again".into()))?;
    let tokens = if user.role >= Role::Admin {
        Some(api_tokens::list(&**db, user.org_id).await?)
    } else {
        None
    };
    let zone = crate::practice::zone_setting(&**db, user.org_id).await?;
    Ok(settings::settings_page(
        &NavUser::of(&user),
        &SettingsData {
            zone,
            has_password: record.password_hash.is_some(),
            email_prefs,
            role: user.role,
            csrf_token: user.csrf_token().unwrap_or(""),
            sessions: &sessions,
            current_session: user.session_id(),
            tokens: tokens.as_deref(),
        },
    ))
}

/// No `Debug`: it holds a secret.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    current_password: Option<String>,
}

#[handler]
pub async fn view_settings_password_post(
    state: Data<&AppState>,
    req: &Request,
    Viewer(user): Viewer,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let result = flows::set_password(
        &state,
        &user,
        &form.password,
        form.current_password.as_deref(),
        &ClientInfo::of(req),
    )
    .await;
    let outcome = respond::form(result)?;
    let db = state.pool().get().await?;
    let has_password =
        users::find_by_id(&**db, user.id).await?.is_some_and(|u| u.password_hash.is_some());
    Ok(match outcome {
        Ok(0) => settings::password_section(has_password, Some((false, "Password saved.")))
            .into_response(),
        Ok(n) => settings::password_section(
            has_password,
            Some((false, &format!("Password saved. {n} other session(s) were signed out."))),
        )
        .into_response(),
        Err(fix) => {
            fix.render(settings::password_section(has_password, Some((true, &fix.message))))
        }
    })
}

async fn sessions_fragment(
    state: &AppState,
    user: &CurrentUser,
    message: Option<&str>,
) -> AppResult<Markup> {
    let db = state.pool().get().await?;
    let list = sessions::list_sessions(&**db, user.id, state.config().session_idle_timeout).await?;
    Ok(settings::sessions_section(&list, user.session_id(), message))
}

#[handler]
pub async fn view_settings_session_revoke_post(
    state: Data<&AppState>,
    req: &Request,
    Viewer(user): Viewer,
    Path(id): Path<Uuid>,
) -> AppResult<Markup> {
    flows::revoke_session(&state, &user, id, &ClientInfo::of(req)).await?;
    sessions_fragment(&state, &user, Some("Session signed out.")).await
}

#[handler]
pub async fn view_settings_sessions_revoke_others_post(
    state: Data<&AppState>,
    req: &Request,
    Viewer(user): Viewer,
) -> AppResult<Markup> {
    let n = flows::revoke_other_sessions(&state, &user, &ClientInfo::of(req)).await?;
    sessions_fragment(&state, &user, Some(&format!("{n} other session(s) signed out."))).await
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    /// `read` (the default) or `write`.
    scope: Option<String>,
}

#[handler]
pub async fn view_settings_token_create_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Form(form): Form<TokenForm>,
) -> AppResult<Response> {
    let created = match form.scope.as_deref().unwrap_or("read").parse::<Scope>() {
        Ok(scope) => {
            flows::create_api_token(&state, &user, &form.name, scope, &ClientInfo::of(req)).await
        }
        Err(e) => Err(AppError::BadRequest(e.to_string())),
    };
    let db = state.pool().get().await?;
    let list = api_tokens::list(&**db, user.org_id).await?;
    Ok(match respond::form(created)? {
        Ok(t) => settings::tokens_section(&list, user.role, Some((&t.name, &t.token)), None)
            .into_response(),
        Err(fix) => {
            fix.render(settings::tokens_section(&list, user.role, None, Some(&fix.message)))
        }
    })
}

#[handler]
pub async fn view_settings_token_revoke_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Path(id): Path<Uuid>,
) -> AppResult<Markup> {
    flows::revoke_api_token(&state, &user, id, &ClientInfo::of(req)).await?;
    let db = state.pool().get().await?;
    let list = api_tokens::list(&**db, user.org_id).await?;
    Ok(settings::tokens_section(&list, user.role, None, None))
}

/// The "Email notifications" form: a checkbox is sent only when ticked.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EmailPrefsForm {
    critical_alerts: Option<String>,
    monthly_report: Option<String>,
}

/// `POST /client/settings/notifications`: saves the user's email
/// preferences; for htmx, the section again with a confirmation; without
/// JavaScript, back to the settings page.
#[handler]
pub async fn view_settings_notifications_post(
    state: Data<&AppState>,
    req: &Request,
    Viewer(user): Viewer,
    Form(form): Form<EmailPrefsForm>,
) -> AppResult<Response> {
    let ticked = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty() && v != "off");
    let prefs = notifications::Preferences {
        critical_alerts: ticked(&form.critical_alerts),
        monthly_report: ticked(&form.monthly_report),
    };
    let saved =
        crate::notifications::save_preferences(&state, &user, prefs, &ClientInfo::of(req)).await?;
    if !super::respond::is_htmx(req) {
        return Ok(poem::web::Redirect::see_other(format!(
            "{}#email-notifications-section",
            crate::paths::SETTINGS
        ))
        .into_response());
    }
    Ok(settings::email_notifications_section(
        saved,
        user.role,
        user.csrf_token().unwrap_or(""),
        Some("Email preferences saved."),
    )
    .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TimeZoneForm {
    time_zone: String,
}

/// `POST /client/settings/time-zone` (owner): for htmx, the section with
/// the new zone (or the refusal by the field, 422); without JavaScript,
/// back to Settings.
#[handler]
pub async fn view_settings_time_zone_post(
    state: Data<&AppState>,
    req: &Request,
    crate::auth::current::Owner(user): crate::auth::current::Owner,
    Form(form): Form<TimeZoneForm>,
) -> AppResult<Response> {
    let db = state.pool().get().await?;
    let result = super::respond::form(
        crate::practice::set_zone(&**db, &user, &ClientInfo::of(req), &form.time_zone).await,
    )?;
    if !super::respond::is_htmx(req) {
        return match result {
            Ok(_) => Ok(poem::web::Redirect::see_other(format!(
                "{}#time-zone-section",
                crate::paths::SETTINGS
            ))
            .into_response()),
            Err(fix) => Err(AppError::Unprocessable(fix.message)),
        };
    }
    let csrf = user.csrf_token().unwrap_or("");
    Ok(match result {
        Ok(setting) => {
            // This response's times are already in the new zone.
            crate::zone::set(setting.zone);
            let message = format!("Times now show in {}.", setting.zone.name());
            settings::time_zone_section(&setting, user.role, csrf, None, Some(&message), None)
                .into_response()
        }
        Err(fix) => {
            let setting = crate::practice::zone_setting(&**db, user.org_id).await?;
            fix.render(settings::time_zone_section(
                &setting,
                user.role,
                csrf,
                Some(&form.time_zone),
                None,
                Some(&fix.message),
            ))
        }
    })
}
