//! `/api/client/mfa/*`, `/api/client/org/mfa-policy` and
//! `/api/client/users/{id}/mfa`: setting up and removing second factors
//! (authenticator app, passkeys, recovery codes), the practice's "require
//! MFA" policy, and an owner or admin resetting someone's factors. All of
//! it needs a browser session that signed in within the last 10 minutes
//! (`POST /api/client/auth/reauthenticate` renews that); API tokens get 403.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use uuid::Uuid;

use super::auth::{CodeBody, CredentialBody, WebauthnOptions};
use super::error::{AUTHED, ApiError, CONFLICT, JSON_BODY, NOT_FOUND, TOO_MANY, UNPROCESSABLE};
use super::types::StrictString;
use crate::auth::current::{ApiAdmin, ApiOwner, ApiSelfService, ClientInfo};
use crate::auth::mfa;
use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Second factors: authenticator app, passkeys, recovery codes, and the
    /// practice's MFA policy.
    Mfa,
}

#[derive(Debug, Object)]
pub struct TotpState {
    /// Confirmed: codes from the app sign you in.
    pub enabled: bool,
    /// Set up but waiting for its first code (`POST /api/client/mfa/totp/confirm`).
    pub pending: bool,
}

#[derive(Debug, Object)]
pub struct PasskeyItem {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Object)]
pub struct MfaPolicy {
    /// Everyone in the practice must have a second factor.
    pub required: bool,
    /// Days a user without one may still sign in after the policy was
    /// turned on (0 to 90).
    pub grace_days: i32,
    /// When the policy was turned on; absent while it is off.
    #[oai(skip_serializing_if_is_none)]
    pub required_since: Option<DateTime<Utc>>,
}

impl From<crate::db::mfa::Policy> for MfaPolicy {
    fn from(p: crate::db::mfa::Policy) -> Self {
        MfaPolicy {
            required: p.required_at.is_some(),
            grace_days: p.grace_days,
            required_since: p.required_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct MfaStatus {
    pub totp: TotpState,
    pub passkeys: Vec<PasskeyItem>,
    /// Unused recovery codes (0 to 10).
    pub recovery_codes_left: i64,
    pub policy: MfaPolicy,
    /// When the practice requires MFA and you have no factor yet: the end
    /// of your grace period.
    #[oai(skip_serializing_if_is_none)]
    pub setup_due: Option<DateTime<Utc>>,
    /// Your session signed in (or confirmed it is you) within the last 10
    /// minutes, so it may change factors now.
    pub recent_auth: bool,
    /// You have a password (re-authenticate with it while you have no
    /// second factor).
    pub has_password: bool,
}

/// A new authenticator-app secret. Shown until confirmed; store it in the
/// app now.
#[derive(Object)]
pub struct NewTotpBody {
    /// The secret in base32 (RFC 4648), for typing into the app.
    pub secret: String,
    /// `otpauth://totp/…` for a QR code: SHA-1, 6 digits, 30 s.
    pub otpauth_uri: String,
}

impl std::fmt::Debug for NewTotpBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewTotpBody(<redacted>)")
    }
}

#[derive(ApiResponse)]
pub enum NewTotpResponse {
    /// Pending until `POST /api/client/mfa/totp/confirm` with a code from it.
    #[oai(status = 201)]
    Created(Json<NewTotpBody>),
}

#[derive(Object)]
pub struct RecoveryCodes {
    /// Single-use codes for when the app or passkey is not at hand, shown
    /// this once: store them now. Empty when you already had codes (they
    /// stay valid).
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCodes").field("count", &self.recovery_codes.len()).finish()
    }
}

#[derive(Debug, Object)]
pub struct PasskeyNameBody {
    /// What the passkey is, e.g. "Office laptop" (1 to 100 characters, not
    /// only spaces, no control characters).
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub name: StrictString,
}

#[derive(Object)]
pub struct AddedPasskeyBody {
    pub id: Uuid,
    pub name: String,
    /// Ten codes when this is your first factor (shown this once), else empty.
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for AddedPasskeyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddedPasskeyBody").field("id", &self.id).field("name", &self.name).finish()
    }
}

#[derive(ApiResponse)]
pub enum AddedPasskeyResponse {
    /// Registered.
    #[oai(status = 201)]
    Created(Json<AddedPasskeyBody>),
}

#[derive(Debug, Object)]
pub struct PolicyBody {
    pub required: bool,
    /// 0 to 90; days a user without a second factor may still sign in.
    #[oai(validator(minimum(value = "0"), maximum(value = "90")))]
    pub grace_days: i32,
}

#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

pub struct MfaApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::Mfa")]
impl MfaApi {
    /// Your second factors
    ///
    /// The authenticator app, passkeys, how many recovery codes are left,
    /// the practice's policy and whether your session may change factors
    /// now. Browser sessions only.
    #[oai(path = "/mfa", method = "get", operation_id = "get_mfa_status")]
    async fn status(
        &self,
        state: Data<&AppState>,
        user: ApiSelfService,
    ) -> Result<Json<MfaStatus>, ApiError<AUTHED>> {
        let s = mfa::status(&state, &user).await?;
        Ok(Json(MfaStatus {
            totp: TotpState { enabled: s.totp_enabled, pending: s.totp_pending },
            passkeys: s
                .passkeys
                .into_iter()
                .map(|p| PasskeyItem {
                    id: p.id,
                    name: p.name,
                    created_at: p.created_at,
                    last_used_at: p.last_used_at,
                })
                .collect(),
            recovery_codes_left: s.recovery_codes_left,
            policy: s.policy.into(),
            setup_due: s.setup_due,
            recent_auth: s.recent,
            has_password: s.has_password,
        }))
    }

    /// Start setting up an authenticator app
    ///
    /// A new secret, pending until confirmed with a code from the app
    /// (starting again replaces a pending one). 409 when an app is already
    /// set up. Needs a recent sign-in.
    #[oai(path = "/mfa/totp", method = "post", operation_id = "create_totp")]
    async fn start_totp(
        &self,
        state: Data<&AppState>,
        user: ApiSelfService,
    ) -> Result<NewTotpResponse, ApiError<{ AUTHED | CONFLICT }>> {
        let new = mfa::start_totp(&state, &user).await?;
        Ok(NewTotpResponse::Created(Json(NewTotpBody {
            secret: new.secret_base32,
            otpauth_uri: new.otpauth_uri,
        })))
    }

    /// Confirm the authenticator app
    ///
    /// With a current 6-digit code from it. Turns it on, and answers ten
    /// recovery codes when it is your first factor. Audited and emailed.
    #[oai(path = "/mfa/totp/confirm", method = "post", operation_id = "verify_totp")]
    async fn confirm_totp(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiSelfService,
        body: Json<CodeBody>,
    ) -> Result<Json<RecoveryCodes>, ApiError<{ AUTHED | JSON_BODY | CONFLICT | TOO_MANY }>> {
        let recovery_codes =
            mfa::confirm_totp(&state, &user, &body.code, &ClientInfo::of(req)).await?;
        Ok(Json(RecoveryCodes { recovery_codes }))
    }

    /// Remove the authenticator app
    ///
    /// 409 when it is your last factor and the practice requires MFA.
    /// Without any factor left, the recovery codes go too. Audited and
    /// emailed.
    #[oai(path = "/mfa/totp", method = "delete", operation_id = "delete_totp")]
    async fn remove_totp(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiSelfService,
    ) -> Result<Done, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        mfa::remove_totp(&state, &user, &ClientInfo::of(req)).await?;
        Ok(Done::NoContent)
    }

    /// New recovery codes
    ///
    /// Ten new single-use codes; the old ones stop working. Needs a factor
    /// (409 otherwise). Audited and emailed.
    #[oai(path = "/mfa/recovery-codes", method = "post", operation_id = "create_recovery_codes")]
    async fn regenerate_recovery_codes(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiSelfService,
    ) -> Result<Json<RecoveryCodes>, ApiError<{ AUTHED | CONFLICT }>> {
        let recovery_codes =
            mfa::regenerate_recovery_codes(&state, &user, &ClientInfo::of(req)).await?;
        Ok(Json(RecoveryCodes { recovery_codes }))
    }

    /// Start registering a passkey or security key
    ///
    /// The options for `navigator.credentials.create`; answer with
    /// `create_passkey` within 5 minutes. 409 when the portal is not on
    /// HTTPS or localhost (browsers offer WebAuthn only there).
    #[oai(
        path = "/mfa/webauthn/register/start",
        method = "post",
        operation_id = "create_passkey_challenge"
    )]
    async fn start_passkey(
        &self,
        state: Data<&AppState>,
        user: ApiSelfService,
        body: Json<PasskeyNameBody>,
    ) -> Result<Json<WebauthnOptions>, ApiError<{ AUTHED | JSON_BODY | CONFLICT }>> {
        let options = mfa::passkey_registration_options(&state, &user, &body.name).await?;
        Ok(Json(WebauthnOptions::from_options(options)))
    }

    /// Register the passkey
    ///
    /// The browser's answer to the options from `create_passkey_challenge`
    /// (422 when it does not answer them: another challenge, origin or
    /// signature). Audited and emailed.
    #[oai(path = "/mfa/webauthn/register/finish", method = "post", operation_id = "create_passkey")]
    async fn finish_passkey(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiSelfService,
        body: Json<CredentialBody>,
    ) -> Result<AddedPasskeyResponse, ApiError<{ AUTHED | JSON_BODY | CONFLICT | UNPROCESSABLE }>>
    {
        let added =
            mfa::register_passkey(&state, &user, &body.credential, &ClientInfo::of(req)).await?;
        Ok(AddedPasskeyResponse::Created(Json(AddedPasskeyBody {
            id: added.id,
            name: added.name,
            recovery_codes: added.recovery_codes,
        })))
    }

    /// Remove a passkey
    ///
    /// 409 when it is your last factor and the practice requires MFA.
    /// Audited and emailed.
    #[oai(path = "/mfa/webauthn/:id", method = "delete", operation_id = "delete_passkey")]
    async fn remove_passkey(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiSelfService,
        id: Path<Uuid>,
    ) -> Result<Done, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        mfa::remove_passkey(&state, &user, id.0, &ClientInfo::of(req)).await?;
        Ok(Done::NoContent)
    }

    /// The practice's MFA policy (owner)
    #[oai(path = "/org/mfa-policy", method = "get", operation_id = "get_mfa_policy")]
    async fn policy(
        &self,
        state: Data<&AppState>,
        user: ApiOwner,
    ) -> Result<Json<MfaPolicy>, ApiError<AUTHED>> {
        Ok(Json(mfa::policy(&state, &user).await?.into()))
    }

    /// Require MFA of everyone (owner)
    ///
    /// Users without a second factor are shown the deadline and, after
    /// `grace_days`, can only set one up. Changing the grace period keeps
    /// the original start. Needs a factor of your own before turning it on
    /// (409) and a recent sign-in. Audited.
    #[oai(path = "/org/mfa-policy", method = "put", operation_id = "set_mfa_policy")]
    async fn set_policy(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiOwner,
        body: Json<PolicyBody>,
    ) -> Result<Json<MfaPolicy>, ApiError<{ AUTHED | JSON_BODY | CONFLICT }>> {
        let policy =
            mfa::set_policy(&state, &user, body.required, body.grace_days, &ClientInfo::of(req))
                .await?;
        Ok(Json(policy.into()))
    }

    /// Reset a user's second factors (owner, admin)
    ///
    /// Removes their authenticator app, passkeys and recovery codes (they
    /// lost their phone); they are emailed and set up new ones at next
    /// sign-in. An admin resets viewers and auditors only; nobody resets
    /// their own this way (403). Needs a recent sign-in. Audited.
    #[oai(path = "/users/:id/mfa", method = "delete", operation_id = "remove_user_mfa")]
    async fn reset_user(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiAdmin,
        id: Path<Uuid>,
    ) -> Result<Done, ApiError<{ AUTHED | NOT_FOUND | CONFLICT }>> {
        mfa::reset_user(&state, &user, id.0, &ClientInfo::of(req)).await?;
        Ok(Done::NoContent)
    }
}
