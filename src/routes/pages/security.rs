//! The Security page (`/client/security`): second factors, confirming it
//! is you, and the owner's MFA policy. Every form answers with the whole
//! page; a failure re-renders it with the message (422, 429).

use maud::Markup;
use poem::web::{Data, Form, Path};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use uuid::Uuid;

use super::respond;
use crate::auth::Role;
use crate::auth::current::{ClientInfo, CurrentUser, Owner, SelfService};
use crate::auth::mfa::{self, NewTotp};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::views::layout::NavUser;
use crate::views::security::{self, Flash, SecurityData};

/// The page for `user`, with what the last submission produced.
async fn render(state: &AppState, user: &CurrentUser, flash: Flash<'_>) -> AppResult<Markup> {
    let status = mfa::status(state, user).await?;
    let pending: Option<NewTotp> =
        if status.totp_pending { mfa::pending_totp(state, user).await? } else { None };
    let flash = Flash { new_totp: flash.new_totp.or(pending.as_ref()), ..flash };
    Ok(security::security_page(
        &NavUser::of(user),
        &SecurityData {
            status: &status,
            is_owner: user.role == Role::Owner,
            csrf_token: user.csrf_token().unwrap_or(""),
        },
        &flash,
    ))
}

/// The page after a change: `done` on success, the fix's message (and
/// status) otherwise. A wrong code or password is a form error here, not a
/// sign-in redirect. `renews`: a success means the session just confirmed
/// it is its user.
async fn answer<T>(
    state: &AppState,
    user: &CurrentUser,
    result: AppResult<T>,
    renews: bool,
    done: impl FnOnce(&T) -> String,
    codes: impl FnOnce(&T) -> &[String],
) -> AppResult<Response> {
    let result = result.map_err(|e| match e {
        AppError::Unauthorized(message) => AppError::Unprocessable(message),
        e => e,
    });
    match respond::form(result)? {
        Ok(value) => {
            let message = done(&value);
            let mut user = user.clone();
            if renews && let Some(auth) = user.auth.as_mut() {
                auth.authenticated_at = chrono::Utc::now();
            }
            let page = render(
                state,
                &user,
                Flash {
                    message: Some((false, &message)),
                    recovery_codes: codes(&value),
                    ..Flash::default()
                },
            )
            .await?;
            Ok(page.into_response())
        }
        Err(fix) => {
            let page = render(
                state,
                user,
                Flash { message: Some((true, &fix.message)), ..Flash::default() },
            )
            .await?;
            Ok(fix.render(page))
        }
    }
}

const NO_CODES: &[String] = &[];

#[handler]
pub async fn view_security_get(
    state: Data<&AppState>,
    SelfService(user): SelfService,
) -> AppResult<Response> {
    Ok(render(&state, &user, Flash::default()).await?.into_response())
}

#[handler]
pub async fn view_security_totp_post(
    state: Data<&AppState>,
    SelfService(user): SelfService,
) -> AppResult<Response> {
    let result = mfa::start_totp(&state, &user).await.map(|_| ());
    answer(
        &state,
        &user,
        result,
        false,
        |_| "Scan the QR code with your app, then enter the code it shows.".into(),
        |_| NO_CODES,
    )
    .await
}

/// No `Debug`: it holds a secret.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

#[handler]
pub async fn view_security_totp_confirm_post(
    state: Data<&AppState>,
    req: &Request,
    SelfService(user): SelfService,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let result = mfa::confirm_totp(&state, &user, &form.code, &ClientInfo::of(req)).await;
    answer(
        &state,
        &user,
        result,
        false,
        |_| "Your authenticator app is on: you will be asked for a code when you sign in.".into(),
        |codes| codes,
    )
    .await
}

#[handler]
pub async fn view_security_totp_remove_post(
    state: Data<&AppState>,
    req: &Request,
    SelfService(user): SelfService,
) -> AppResult<Response> {
    let result = mfa::remove_totp(&state, &user, &ClientInfo::of(req)).await;
    answer(&state, &user, result, false, |_| "Authenticator app removed.".into(), |_| NO_CODES)
        .await
}

#[derive(Debug, Deserialize)]
pub struct PasskeyNameForm {
    #[serde(default)]
    name: String,
}

/// WebAuthn options for a new passkey (JSON for webauthn.js).
#[handler]
pub async fn view_security_passkey_options_post(
    state: Data<&AppState>,
    SelfService(user): SelfService,
    Form(form): Form<PasskeyNameForm>,
) -> Response {
    respond::json_or_message(mfa::passkey_registration_options(&state, &user, &form.name).await)
}

/// No `Debug` needed: a WebAuthn answer is no secret, but it is long.
#[derive(Deserialize)]
pub struct CredentialForm {
    #[serde(default)]
    credential: String,
}

fn credential_of(form: &CredentialForm) -> AppResult<serde_json::Value> {
    serde_json::from_str(&form.credential).map_err(|_| {
        AppError::Unprocessable(
            "the browser sent no passkey answer; press the passkey button again".into(),
        )
    })
}

#[handler]
pub async fn view_security_passkey_post(
    state: Data<&AppState>,
    req: &Request,
    SelfService(user): SelfService,
    Form(form): Form<CredentialForm>,
) -> AppResult<Response> {
    let result = async {
        mfa::register_passkey(&state, &user, &credential_of(&form)?, &ClientInfo::of(req)).await
    }
    .await;
    answer(
        &state,
        &user,
        result,
        false,
        |added| format!("Passkey \"{}\" added.", added.name),
        |added| &added.recovery_codes,
    )
    .await
}

#[handler]
pub async fn view_security_passkey_remove_post(
    state: Data<&AppState>,
    req: &Request,
    SelfService(user): SelfService,
    Path(id): Path<Uuid>,
) -> AppResult<Response> {
    let result = mfa::remove_passkey(&state, &user, id, &ClientInfo::of(req)).await;
    answer(&state, &user, result, false, |_| "Passkey removed.".into(), |_| NO_CODES).await
}

#[handler]
pub async fn view_security_recovery_codes_post(
    state: Data<&AppState>,
    req: &Request,
    SelfService(user): SelfService,
) -> AppResult<Response> {
    let result = mfa::regenerate_recovery_codes(&state, &user, &ClientInfo::of(req)).await;
    answer(
        &state,
        &user,
        result,
        false,
        |_| "New recovery codes made; the old ones no longer work.".into(),
        |codes| codes,
    )
    .await
}

/// No `Debug`: it holds secrets.
#[derive(Deserialize)]
pub struct ConfirmForm {
    code: Option<String>,
    password: Option<String>,
}

#[handler]
pub async fn view_security_confirm_post(
    state: Data<&AppState>,
    req: &Request,
    SelfService(user): SelfService,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    let result = mfa::reauthenticate(
        &state,
        &user,
        form.code.as_deref(),
        form.password.as_deref(),
        &ClientInfo::of(req),
    )
    .await;
    answer(
        &state,
        &user,
        result,
        true,
        |_| "Confirmed: you can make changes here for the next 10 minutes.".into(),
        |_| NO_CODES,
    )
    .await
}

/// WebAuthn options for confirming it is you with a passkey.
#[handler]
pub async fn view_security_confirm_passkey_options_post(
    state: Data<&AppState>,
    SelfService(user): SelfService,
) -> Response {
    respond::json_or_message(mfa::reauthenticate_passkey_options(&state, &user).await)
}

#[handler]
pub async fn view_security_confirm_passkey_post(
    state: Data<&AppState>,
    req: &Request,
    SelfService(user): SelfService,
    Form(form): Form<CredentialForm>,
) -> AppResult<Response> {
    let result = async {
        let credential = credential_of(&form)?;
        mfa::reauthenticate_with_passkey(&state, &user, &credential, &ClientInfo::of(req)).await
    }
    .await;
    answer(
        &state,
        &user,
        result,
        true,
        |_| "Confirmed: you can make changes here for the next 10 minutes.".into(),
        |_| NO_CODES,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct PolicyForm {
    required: Option<String>,
    #[serde(default)]
    grace_days: String,
}

#[handler]
pub async fn view_security_policy_post(
    state: Data<&AppState>,
    req: &Request,
    Owner(user): Owner,
    Form(form): Form<PolicyForm>,
) -> AppResult<Response> {
    let result = match form.grace_days.trim().parse::<i32>() {
        Ok(days) => {
            mfa::set_policy(&state, &user, form.required.is_some(), days, &ClientInfo::of(req))
                .await
        }
        Err(_) => Err(AppError::Unprocessable(format!(
            "enter the grace period as a number of days from 0 to {}",
            mfa::MAX_GRACE_DAYS
        ))),
    };
    answer(
        &state,
        &user,
        result,
        false,
        |p| {
            if let Some(since) = p.required_at {
                let until = since + chrono::Duration::days(i64::from(p.grace_days));
                if until <= chrono::Utc::now() {
                    "Multi-factor sign-in is required; people without a second factor must set one \
                     up before they can use the portal."
                        .into()
                } else {
                    format!(
                        "Multi-factor sign-in is required; people without a second factor can use the \
                         portal until {} and are asked to set one up.",
                        until.format("%Y-%m-%d %H:%M UTC")
                    )
                }
            } else {
                "Multi-factor sign-in is optional.".into()
            }
        },
        |_| NO_CODES,
    )
    .await
}
