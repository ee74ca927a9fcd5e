//! Passkeys and security keys (WebAuthn) through webauthn-rs. Callers see
//! only JSON: the options sent to the browser, the ceremony state kept in
//! the database between the start and finish requests, and the stored
//! passkeys. Every credential must verify its user (PIN, fingerprint or
//! face), as webauthn-rs's passkey ceremonies require.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CredentialID, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, WebauthnError,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// The name browsers show when asking to create a passkey.
pub const RP_NAME: &str = "OsirisCare portal";

/// The relying party for a portal served at `base_url`: its host is the RP
/// id, its origin the only origin accepted. Browsers refuse an IP address as
/// RP id and offer WebAuthn only on https:// pages and http://localhost, so
/// other base URLs are refused here, with the reason.
pub fn relying_party(base_url: &str) -> anyhow::Result<Webauthn> {
    let url = Url::parse(base_url)
        .map_err(|e| anyhow::anyhow!("the base URL {base_url:?} is not a URL: {e}"))?;
    let Some(host) = url.host_str() else {
        anyhow::bail!("the base URL {base_url:?} has no host");
    };
    let Some(domain) = url.domain() else {
        anyhow::bail!(
            "passkeys and security keys need the portal on a domain name, not an IP address \
             ({host} in the base URL {base_url}): browsers refuse an IP address as the relying \
             party. Use a domain name, or http://localhost:PORT on this machine"
        );
    };
    let local = domain == "localhost" || domain.ends_with(".localhost");
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        _ => anyhow::bail!(
            "passkeys and security keys need HTTPS: browsers offer WebAuthn only on https:// \
             pages and http://localhost (the base URL is {base_url})"
        ),
    }
    // Only the origin counts: a base URL's path is not part of it.
    let origin = Url::parse(&url.origin().ascii_serialization())?;
    let rp = WebauthnBuilder::new(domain, &origin)
        .map_err(|e| anyhow::anyhow!("relying party {domain} for {origin}: {e}"))?
        .rp_name(RP_NAME)
        .build()
        .map_err(|e| anyhow::anyhow!("relying party {domain} for {origin}: {e}"))?;
    Ok(rp)
}

/// A registration begun: `options` go to the browser (`{"publicKey": …}`
/// for `navigator.credentials.create`), `state` stays on the server until
/// [`finish_registration`].
#[derive(Debug, Clone)]
pub struct Registration {
    pub options: Value,
    pub state: Value,
}

/// A passkey registered: its credential id (unique across all users) and
/// the passkey to store, which [`start_authentication`] takes back.
#[derive(Debug, Clone)]
pub struct NewPasskey {
    pub credential_id: Vec<u8>,
    pub passkey: Value,
}

/// A sign-in begun: `options` go to the browser (`{"publicKey": …}` for
/// `navigator.credentials.get`), `state` stays on the server until
/// [`finish_authentication`].
#[derive(Debug, Clone)]
pub struct Assertion {
    pub options: Value,
    pub state: Value,
}

/// A sign-in that verified: the credential used and, when its signature
/// counter or backup state changed, the passkey to store in its place.
#[derive(Debug, Clone)]
pub struct Used {
    pub credential_id: Vec<u8>,
    pub updated_passkey: Option<Value>,
}

/// Why a ceremony failed, in words for the person at the browser. The
/// `String` some variants carry is webauthn-rs's reason, for logs only.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("the browser's answer is not a valid WebAuthn credential")]
    Malformed,
    /// Another challenge, origin or ceremony than the one started.
    #[error("the security key's answer does not match this request; try again")]
    Mismatch,
    #[error("this passkey is already registered")]
    AlreadyRegistered,
    #[error(
        "the passkey or security key did not confirm it is you (PIN, fingerprint or face); \
         try again and unlock it when asked"
    )]
    NotVerified,
    #[error(
        "this passkey or security key is not registered to this account; use another one, \
         an authenticator app or a recovery code"
    )]
    NotRegistered,
    #[error("no passkey or security key is registered to this account")]
    NoneRegistered,
    #[error(
        "this security key uses a kind of key the portal does not accept; use another \
         passkey or security key"
    )]
    Unsupported,
    /// The signature counter did not go up: the credential may be a copy.
    #[error(
        "this security key's signature counter went backwards, so it may have been copied; \
         sign in another way and remove it from your account"
    )]
    PossiblyCloned,
    #[error("the passkey or security key's answer was refused; try again")]
    Refused(String),
    /// The saved state or a stored passkey no longer reads (another
    /// webauthn-rs version wrote it, or not this module).
    #[error("the saved {0} could not be read; start again")]
    Stored(&'static str),
    #[error("passkeys are not working on the server; try again later")]
    Internal(String),
}

impl From<WebauthnError> for PasskeyError {
    fn from(e: WebauthnError) -> Self {
        use WebauthnError as W;
        match e {
            W::MismatchedChallenge
            | W::ChallengeNotFound
            | W::InvalidClientDataType
            | W::InvalidRPOrigin
            | W::InvalidRPIDHash
            | W::CredentialCrossOrigin => PasskeyError::Mismatch,
            W::UserNotPresent | W::UserNotVerified => PasskeyError::NotVerified,
            W::CredentialExcludedFromRequest | W::CredentialAlreadyExists => {
                PasskeyError::AlreadyRegistered
            }
            W::CredentialNotFound => PasskeyError::NotRegistered,
            W::CredentialPossibleCompromise => PasskeyError::PossiblyCloned,
            W::ParseBase64Failure(_)
            | W::ParseCBORFailure(_)
            | W::ParseJSONFailure(_)
            | W::ParseNOMFailure
            | W::ParseInsufficientBytesAvailable
            | W::MissingAttestationCredentialData
            | W::AttestationStatementMapInvalid
            | W::AttestationStatementResponseMissing
            | W::AttestationStatementResponseInvalid
            | W::COSEKeyInvalidCBORValue
            | W::COSEKeyInvalidType
            | W::COSEKeyECDSAXYInvalid
            | W::COSEKeyRSANEInvalid
            | W::COSEKeyEDDSAXInvalid => PasskeyError::Malformed,
            W::COSEKeyEDUnsupported
            | W::COSEKeyECDSAInvalidCurve
            | W::COSEKeyEDDSAInvalidCurve
            | W::COSEKeyInvalidAlgorithm
            | W::CredentialInsecureCryptography
            | W::CredentialAlteredAlgFromRequest
            | W::AttestationNotSupported => PasskeyError::Unsupported,
            W::Configuration
            | W::InvalidUsername
            | W::OpenSSLError(_)
            | W::OpenSSLErrorNoCurveName
            | W::InconsistentUserVerificationPolicy => PasskeyError::Internal(e.to_string()),
            other => PasskeyError::Refused(other.to_string()),
        }
    }
}

fn to_json(value: &impl Serialize) -> Result<Value, PasskeyError> {
    serde_json::to_value(value).map_err(|e| PasskeyError::Internal(e.to_string()))
}

fn stored<T: DeserializeOwned>(value: &Value, what: &'static str) -> Result<T, PasskeyError> {
    T::deserialize(value).map_err(|_| PasskeyError::Stored(what))
}

fn from_client<T: DeserializeOwned>(value: &Value) -> Result<T, PasskeyError> {
    T::deserialize(value).map_err(|_| PasskeyError::Malformed)
}

fn passkeys_of(values: &[Value]) -> Result<Vec<Passkey>, PasskeyError> {
    values.iter().map(|v| stored(v, "passkey")).collect()
}

/// Begins registering a passkey for a user, refusing the authenticators
/// that hold one of `existing_credential_ids` (the user's passkeys so far).
/// An empty `display_name` falls back to the email address.
pub fn start_registration(
    rp: &Webauthn,
    user_id: Uuid,
    email: &str,
    display_name: &str,
    existing_credential_ids: &[Vec<u8>],
) -> Result<Registration, PasskeyError> {
    let display_name = if display_name.trim().is_empty() { email } else { display_name };
    let exclude: Vec<CredentialID> =
        existing_credential_ids.iter().map(|id| CredentialID::from(id.clone())).collect();
    let exclude = (!exclude.is_empty()).then_some(exclude);
    let (options, state) = rp.start_passkey_registration(user_id, email, display_name, exclude)?;
    Ok(Registration { options: to_json(&options)?, state: to_json(&state)? })
}

/// Checks the browser's answer (`RegisterPublicKeyCredential` JSON) to the
/// registration whose saved state is `state`. The caller must still refuse
/// a credential id already stored for any user.
pub fn finish_registration(
    rp: &Webauthn,
    state: &Value,
    response: &Value,
) -> Result<NewPasskey, PasskeyError> {
    let saved: PasskeyRegistration = stored(state, "registration state")?;
    let response: RegisterPublicKeyCredential = from_client(response)?;
    let passkey = rp.finish_passkey_registration(&response, &saved).map_err(|e| match e {
        // webauthn-rs 0.5 reports an excluded credential as this error.
        WebauthnError::CredentialAlteredAlgFromRequest
            if was_excluded(state, response.raw_id.as_slice()) =>
        {
            PasskeyError::AlreadyRegistered
        }
        e => e.into(),
    })?;
    Ok(NewPasskey { credential_id: passkey.cred_id().to_vec(), passkey: to_json(&passkey)? })
}

/// True when the saved registration state excludes `credential_id`.
fn was_excluded(state: &Value, credential_id: &[u8]) -> bool {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let excluded = state.pointer("/rs/exclude_credentials").and_then(Value::as_array);
    excluded.into_iter().flatten().filter_map(Value::as_str).any(|id| {
        URL_SAFE_NO_PAD.decode(id.trim_end_matches('=')).is_ok_and(|id| id == credential_id)
    })
}

/// Begins a sign-in with one of the user's stored passkeys.
pub fn start_authentication(rp: &Webauthn, passkeys: &[Value]) -> Result<Assertion, PasskeyError> {
    if passkeys.is_empty() {
        return Err(PasskeyError::NoneRegistered);
    }
    let passkeys = passkeys_of(passkeys)?;
    let (options, state) = rp.start_passkey_authentication(&passkeys)?;
    Ok(Assertion { options: to_json(&options)?, state: to_json(&state)? })
}

/// Checks the browser's answer (`PublicKeyCredential` JSON) to the sign-in
/// whose saved state is `state`. `passkeys` are the user's passkeys now: one
/// removed since the sign-in began is refused.
pub fn finish_authentication(
    rp: &Webauthn,
    state: &Value,
    response: &Value,
    passkeys: &[Value],
) -> Result<Used, PasskeyError> {
    let state: PasskeyAuthentication = stored(state, "sign-in state")?;
    let response: PublicKeyCredential = from_client(response)?;
    let mut passkeys = passkeys_of(passkeys)?;
    let result = rp.finish_passkey_authentication(&response, &state)?;
    let passkey = passkeys
        .iter_mut()
        .find(|p| p.cred_id() == result.cred_id())
        .ok_or(PasskeyError::NotRegistered)?;
    let updated_passkey = match passkey.update_credential(&result) {
        Some(true) => Some(to_json(passkey)?),
        _ => None,
    };
    Ok(Used { credential_id: result.cred_id().to_vec(), updated_passkey })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;

    fn rp() -> Webauthn {
        relying_party("http://localhost:8080").unwrap()
    }

    #[test]
    fn an_ip_address_base_url_is_refused_for_a_domain_name() {
        for url in ["http://127.0.0.1:8080", "https://10.0.0.5", "http://[::1]:8080"] {
            let err = relying_party(url).unwrap_err().to_string();
            assert!(err.contains("domain name, not an IP address"), "{url}: {err}");
        }
    }

    #[test]
    fn plain_http_is_refused_except_on_localhost() {
        let err = relying_party("http://portal.example.com").unwrap_err().to_string();
        assert!(err.contains("need HTTPS"), "{err}");
        assert!(relying_party("https://portal.example.com/portal").is_ok());
        assert!(relying_party("http://localhost:8080").is_ok());
        assert!(relying_party("http://portal.localhost:8080").is_ok());
        assert!(relying_party("not a url").unwrap_err().to_string().contains("not a URL"));
    }

    #[test]
    fn registration_options_carry_the_challenge_user_and_excluded_credentials() {
        let user = Uuid::new_v4();
        let existing = vec![vec![1u8, 2, 3, 250, 251], vec![9u8; 32]];
        let r = start_registration(&rp(), user, "maria@example.com", "Maria", &existing).unwrap();
        let pk = &r.options["publicKey"];
        assert_eq!(pk["rp"]["id"], "localhost");
        assert_eq!(pk["rp"]["name"], RP_NAME);
        assert_eq!(pk["user"]["id"], URL_SAFE_NO_PAD.encode(user.as_bytes()));
        assert_eq!(pk["user"]["name"], "maria@example.com");
        assert_eq!(pk["user"]["displayName"], "Maria");
        assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
        let challenge = pk["challenge"].as_str().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(challenge).unwrap().len(), 32);
        let excluded: Vec<&str> = pk["excludeCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(excluded, ["AQID-vs", URL_SAFE_NO_PAD.encode([9u8; 32]).as_str()]);
        // The saved state holds the same challenge.
        assert!(r.state.to_string().contains(challenge));

        let first = start_registration(&rp(), user, "maria@example.com", "", &[]).unwrap();
        assert_eq!(first.options["publicKey"]["user"]["displayName"], "maria@example.com");
        assert!(first.options["publicKey"].get("excludeCredentials").is_none_or(Value::is_null));
        assert_ne!(first.options["publicKey"]["challenge"], pk["challenge"], "a fresh challenge");
    }

    #[test]
    fn malformed_answers_are_errors_not_panics() {
        let rp = rp();
        let r = start_registration(&rp, Uuid::new_v4(), "a@example.com", "A", &[]).unwrap();
        for bad in [
            json!(null),
            json!("credential"),
            json!({}),
            json!({"id": 1, "rawId": [], "type": "public-key"}),
            json!({"id": "x", "rawId": "not base64!", "type": "public-key",
                   "response": {"attestationObject": "", "clientDataJSON": ""}}),
        ] {
            let err = finish_registration(&rp, &r.state, &bad).unwrap_err();
            assert!(matches!(err, PasskeyError::Malformed), "{bad}: {err:?}");
            assert_eq!(err.to_string(), "the browser's answer is not a valid WebAuthn credential");
        }
        // Well-formed JSON whose bytes are not an attestation.
        let garbage = json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {"attestationObject": "AAAA", "clientDataJSON": "e30"}});
        let err = finish_registration(&rp, &r.state, &garbage).unwrap_err();
        assert!(matches!(err, PasskeyError::Malformed), "{err:?}");
        // Saved state that does not read is the server's problem, not the browser's.
        let err = finish_registration(&rp, &json!({"rs": 1}), &garbage).unwrap_err();
        assert!(matches!(err, PasskeyError::Stored("registration state")), "{err:?}");
    }

    // A registration and a sign-in recorded from Chromium's virtual
    // authenticator through assets/webauthn.js, at http://localhost:18765.
    const RECORDED_ORIGIN: &str = "http://localhost:18765";
    const CREDENTIAL_ID: &str = "aUxBwJA24b9E0TscEBZvxflcTLwuJZsDmaBEw-yP6Gw";

    fn registration_state() -> Value {
        json!({"rs": {"allow_synchronised_authenticators": true, "authenticator_attachment": null,
            "challenge": "dxMe0sDsIyq5_BfVr1cz6Wi7t1pTsHf0yLTEvuhXcsk",
            "credential_algorithms": ["ES256", "RS256"], "exclude_credentials": [],
            "extensions": {"credProps": true, "credentialProtectionPolicy": "userVerificationRequired",
                "enforceCredentialProtectionPolicy": false, "uvm": true},
            "policy": "required", "require_resident_key": false}})
    }

    fn registration_answer() -> Value {
        json!({"extensions": {}, "id": CREDENTIAL_ID, "rawId": CREDENTIAL_ID, "type": "public-key",
            "response": {
                "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVikSZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAAQECAwQFBgcIAQIDBAUGBwgAIGlMQcCQNuG_RNE7HBAWb8X5XEy8LiWbA5mgRMPsj-hspQECAyYgASFYIBvRcBubRhZy9gdYVzek6i3fi8aOy-Jww3_qF9LdGe8oIlgg8TmTT0RK2gbqLfBBhZ1bvZ-1nHfcujFHQF3PoBgF0YQ",
                "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiZHhNZTBzRHNJeXE1X0JmVnIxY3o2V2k3dDFwVHNIZjB5TFRFdnVoWGNzayIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MTg3NjUiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
                "transports": ["internal"]}})
    }

    /// The sign-in state for the registered passkey (its counter then 1).
    fn sign_in_state(passkey: &Value) -> Value {
        json!({"ast": {"allow_backup_eligible_upgrade": true, "appid": null,
            "challenge": "go9kxtEjn7RfveQwjFf935NmbBE072MEZGEau7HaSqk",
            "credentials": [passkey["cred"]], "policy": "required"}})
    }

    fn sign_in_answer() -> Value {
        json!({"extensions": {}, "id": CREDENTIAL_ID, "rawId": CREDENTIAL_ID, "type": "public-key",
            "response": {
                "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAg",
                "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiZ285a3h0RWpuN1JmdmVRd2pGZjkzNU5tYkJFMDcyTUVaR0VhdTdIYVNxayIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6MTg3NjUiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
                "signature": "MEUCIQDqVZtukPjJU1VwX1nqS9Qcwb4m3C1FekpbvL8KfX65XwIgbQPya-nVf_w1CXdcnSQgMfKNLGpO-7KKqZGKVMI3ykk",
                "userHandle": null}})
    }

    fn registered() -> NewPasskey {
        let rp = relying_party(RECORDED_ORIGIN).unwrap();
        finish_registration(&rp, &registration_state(), &registration_answer()).unwrap()
    }

    #[test]
    fn a_recorded_registration_verifies_and_only_for_its_challenge_and_origin() {
        let new = registered();
        assert_eq!(new.credential_id, URL_SAFE_NO_PAD.decode(CREDENTIAL_ID).unwrap());
        assert_eq!(new.passkey["cred"]["counter"], 1);

        let rp = relying_party(RECORDED_ORIGIN).unwrap();
        let other = start_registration(&rp, Uuid::new_v4(), "a@example.com", "A", &[]).unwrap();
        let err = finish_registration(&rp, &other.state, &registration_answer()).unwrap_err();
        assert!(matches!(err, PasskeyError::Mismatch), "another challenge: {err:?}");

        let elsewhere = relying_party("http://localhost:18766").unwrap();
        let err = finish_registration(&elsewhere, &registration_state(), &registration_answer())
            .unwrap_err();
        assert!(matches!(err, PasskeyError::Mismatch), "another origin: {err:?}");

        let mut excluding = registration_state();
        excluding["rs"]["exclude_credentials"] = json!([CREDENTIAL_ID]);
        let err = finish_registration(&rp, &excluding, &registration_answer()).unwrap_err();
        assert!(matches!(err, PasskeyError::AlreadyRegistered), "{err:?}");
        assert_eq!(err.to_string(), "this passkey is already registered");
    }

    #[test]
    fn a_recorded_sign_in_verifies_once_and_returns_the_new_counter() {
        let rp = relying_party(RECORDED_ORIGIN).unwrap();
        let passkey = registered().passkey;
        let state = sign_in_state(&passkey);
        let used =
            finish_authentication(&rp, &state, &sign_in_answer(), std::slice::from_ref(&passkey))
                .unwrap();
        assert_eq!(used.credential_id, URL_SAFE_NO_PAD.decode(CREDENTIAL_ID).unwrap());
        let updated = used.updated_passkey.expect("the counter went from 1 to 2");
        assert_eq!(updated["cred"]["counter"], 2);

        // The same answer again, once the new counter is stored: a replay
        // or a copied key.
        let state = sign_in_state(&updated);
        let err = finish_authentication(&rp, &state, &sign_in_answer(), &[updated]).unwrap_err();
        assert!(matches!(err, PasskeyError::PossiblyCloned), "{err:?}");

        // Removed between the start and the finish of the sign-in.
        let state = sign_in_state(&passkey);
        let err = finish_authentication(&rp, &state, &sign_in_answer(), &[]).unwrap_err();
        assert!(matches!(err, PasskeyError::NotRegistered), "{err:?}");

        // A signature that does not verify.
        let mut forged = sign_in_answer();
        forged["response"]["signature"] = json!(
            "MEUCIQDqVZtukPjJU1VwX1nqS9Qcwb4m3C1FekpbvL8KfX65XwIgbQPya-nVf_w1CXdcnSQgMfKNLGpO-7KKqZGKVMI3ykA"
        );
        let err = finish_authentication(&rp, &state, &forged, std::slice::from_ref(&passkey))
            .unwrap_err();
        assert!(matches!(err, PasskeyError::Refused(_)), "{err:?}");

        // A registration's answer is not a sign-in's.
        let err = finish_authentication(
            &rp,
            &state,
            &registration_answer(),
            std::slice::from_ref(&passkey),
        )
        .unwrap_err();
        assert!(matches!(err, PasskeyError::Malformed), "{err:?}");

        // A sign-in started now has its own challenge.
        let started = start_authentication(&rp, std::slice::from_ref(&passkey)).unwrap();
        let pk = &started.options["publicKey"];
        assert_eq!(pk["allowCredentials"][0]["id"], CREDENTIAL_ID);
        assert_eq!(pk["userVerification"], "required");
        let err = finish_authentication(
            &rp,
            &started.state,
            &sign_in_answer(),
            std::slice::from_ref(&passkey),
        )
        .unwrap_err();
        assert!(matches!(err, PasskeyError::Mismatch), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the security key's answer does not match this request; try again"
        );
    }

    #[test]
    fn a_sign_in_needs_a_registered_passkey() {
        let err = start_authentication(&rp(), &[]).unwrap_err();
        assert!(matches!(err, PasskeyError::NoneRegistered), "{err:?}");
        let err = start_authentication(&rp(), &[json!({"cred": "x"})]).unwrap_err();
        assert!(matches!(err, PasskeyError::Stored("passkey")), "{err:?}");
    }
}
