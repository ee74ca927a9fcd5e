//! Operator commands (`portal admin …`): validate input, then write through
//! the same query functions the app uses. Each returns the new id.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use deadpool_postgres::Pool;
use ed25519_dalek::{SigningKey, VerifyingKey};
use uuid::Uuid;

use crate::auth::{Role, tokens};
use crate::config::parse_email;
use crate::db::orgs;
use crate::error::{AppError, AppResult};

/// Longest name accepted for partners, practices, sites and people.
pub const MAX_NAME_LEN: usize = 200;

/// A trimmed, non-empty, reasonably short display name.
pub fn parse_name(what: &str, raw: &str) -> AppResult<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::BadRequest(format!("{what} must not be empty")));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(AppError::BadRequest(format!(
            "{what} must be at most {MAX_NAME_LEN} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::BadRequest(format!("{what} must not contain control characters")));
    }
    Ok(name.to_owned())
}

fn email(raw: &str) -> AppResult<String> {
    parse_email(raw).ok_or_else(|| AppError::BadRequest(format!("{raw:?} is not an email address")))
}

/// A site appliance's Ed25519 public key from 64 hex digits.
pub fn parse_public_key(hex_key: &str) -> AppResult<VerifyingKey> {
    let bytes = hex::decode(hex_key.trim()).map_err(|_| {
        AppError::BadRequest("the public key must be hex (64 hex digits for 32 bytes)".into())
    })?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        AppError::BadRequest(format!(
            "the public key must be 32 bytes (64 hex digits); got {} bytes",
            b.len()
        ))
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| {
        AppError::BadRequest("those 32 bytes are not a valid Ed25519 public key".into())
    })
}

pub async fn create_partner(pool: &Pool, name: &str, contact: Option<&str>) -> AppResult<Uuid> {
    let name = parse_name("partner name", name)?;
    let contact = contact.map(email).transpose()?;
    let db = pool.get().await?;
    orgs::insert_partner(&**db, &name, contact.as_deref()).await
}

pub async fn create_org(
    pool: &Pool,
    name: &str,
    primary_email: &str,
    partner: Option<Uuid>,
    state: Option<&str>,
) -> AppResult<Uuid> {
    let name = parse_name("practice name", name)?;
    let primary_email = email(primary_email)?;
    let state = state.map(|s| s.trim().to_ascii_uppercase());
    if let Some(st) = &state
        && crate::zone::of_state(st).is_none()
    {
        return Err(AppError::BadRequest(format!(
            "--state {st:?} is not a US state this portal knows: use its two letters, e.g. WA or NY"
        )));
    }
    let mut db = pool.get().await?;
    let tx = db.transaction().await?;
    let id = orgs::insert_org(&*tx, &name, &primary_email, partner).await?;
    orgs::set_state(&*tx, id, state.as_deref()).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn create_user(
    pool: &Pool,
    org: Uuid,
    address: &str,
    role: &str,
    name: Option<&str>,
) -> AppResult<Uuid> {
    let role = match role.parse() {
        Ok(Role::Auditor) => {
            return Err(AppError::BadRequest(
                "an auditor is not created here: an owner or admin grants them access \
                 (POST /api/client/auditors), which invites them"
                    .into(),
            ));
        }
        Ok(r) => r,
        Err(_) => {
            return Err(AppError::BadRequest(format!(
                "unknown role {role:?}: expected owner, admin or viewer"
            )));
        }
    };
    let address = email(address)?;
    let name = name.map(|n| parse_name("name", n)).transpose()?;
    let db = pool.get().await?;
    orgs::insert_user(&**db, org, &address, name.as_deref(), role).await
}

/// Where a new site's key comes from.
pub enum SiteKey<'a> {
    /// The appliance already has a key pair; this is its public half (hex).
    Public(&'a str),
    /// Generate a key pair and write the private key (PKCS#8 PEM, mode 0600) here.
    Generate(&'a Path),
}

pub async fn create_site(pool: &Pool, org: Uuid, name: &str, key: SiteKey<'_>) -> AppResult<Uuid> {
    let name = parse_name("site name", name)?;
    let (public, witness, signing) = match key {
        SiteKey::Public(hex_key) => (parse_public_key(hex_key)?, None, None),
        SiteKey::Generate(path) => {
            let cosigner = cosigner_path(path);
            for p in [path, cosigner.as_path()] {
                if p.exists() {
                    return Err(AppError::Conflict(format!(
                        "{} already exists; choose a new file for the private key",
                        p.display()
                    )));
                }
            }
            let signing = SigningKey::from_bytes(&tokens::random_bytes());
            let witness = SigningKey::from_bytes(&tokens::random_bytes());
            (
                signing.verifying_key(),
                Some(witness.verifying_key()),
                Some((signing, witness, path, cosigner)),
            )
        }
    };
    let mut db = pool.get().await?;
    // The key files are written inside the transaction: if they cannot be
    // written the site is not created, and if the insert fails no key is
    // left behind.
    let tx = db.transaction().await?;
    let id = orgs::insert_site(&*tx, org, &name, public.as_bytes()).await?;
    if let Some(w) = &witness {
        orgs::set_site_keys(&*tx, id, None, Some(w.as_bytes())).await?;
    }
    crate::evidence::log::log_new_site(&*tx, org, id).await?;
    if let Some((signing, witness, path, cosigner)) = signing {
        write_private_key(&signing, path)?;
        if let Err(e) = write_private_key(&witness, &cosigner) {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
    }
    tx.commit().await?;
    Ok(id)
}

/// Where `--key-out` puts the appliance's cosigner key beside its signing
/// key: `site.pem` → `site.cosigner.pem`.
pub fn cosigner_path(key_out: &Path) -> std::path::PathBuf {
    let name = key_out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".pem").unwrap_or(&name);
    key_out.with_file_name(format!("{stem}.cosigner.pem"))
}

/// Sets or rotates a site's signing key, cosigner key or both: the change
/// is logged as a site-key leaf (every later bundle must be signed with the
/// new key) and recorded in the practice's audit log.
pub async fn set_site_keys(
    pool: &Pool,
    site: Uuid,
    public_key: Option<&str>,
    witness_key: Option<&str>,
) -> AppResult<Uuid> {
    let public = public_key.map(parse_public_key).transpose()?;
    let witness = witness_key.map(parse_public_key).transpose()?;
    if public.is_none() && witness.is_none() {
        return Err(AppError::BadRequest(
            "give --public-key, --witness-key or both (64 hex digits each)".into(),
        ));
    }
    let mut db = pool.get().await?;
    let tx = db.transaction().await?;
    let org = orgs::set_site_keys(
        &*tx,
        site,
        public.as_ref().map(|k| k.as_bytes()),
        witness.as_ref().map(|k| k.as_bytes()),
    )
    .await?
    .ok_or_else(|| crate::reach::no_site_with_id(site))?;
    let logged = crate::evidence::log::log_new_site(&*tx, org, site).await?;
    crate::db::audit::record(
        &*tx,
        &crate::db::audit::Entry {
            org_id: Some(org),
            actor_email: Some("operator (portal admin set-site-keys)"),
            action: "site.keys_changed",
            target_type: Some("site"),
            target_id: Some(site.to_string()),
            details: serde_json::json!({
                "public_key": public.map(|k| hex::encode(k.as_bytes())),
                "witness_key": witness.map(|k| hex::encode(k.as_bytes())),
                "log_index": logged.map(|l| l.index),
            }),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(site)
}

/// The RFC 8410 PKCS#8 v1 encoding of an Ed25519 key: the seed only, as
/// OpenSSL and Python `cryptography` write and read it (the v2 form with the
/// public key attached, which `ed25519-dalek` writes, is read by neither
/// OpenSSL 3.0 nor `cryptography`).
pub fn pkcs8_v1_pem(key: &SigningKey) -> String {
    use base64::Engine as _;
    // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } }
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(key.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
}

/// Writes a PKCS#8 PEM private key readable by its owner only.
pub fn write_private_key(key: &SigningKey, path: &Path) -> AppResult<()> {
    let pem = pkcs8_v1_pem(key);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| AppError::BadRequest(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| AppError::BadRequest(format!("cannot write {}: {e}", path.display())))?;
    Ok(())
}

/// An API token acting as `user_id`, for scripts and integrations set up by
/// an operator. Returns the token, which is shown only this once.
pub async fn create_api_token(
    pool: &Pool,
    secret: &crate::config::Secret<Vec<u8>>,
    user_id: Uuid,
    name: &str,
    scope: crate::auth::Scope,
) -> AppResult<String> {
    let name = parse_name("token name", name)?;
    let mut db = pool.get().await?;
    let tx = db.transaction().await?;
    let user = crate::db::users::find_by_id(&*tx, user_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user with id {user_id}")))?;
    if !user.can_sign_in() {
        return Err(AppError::BadRequest("that user or their practice is not active".into()));
    }
    let token = format!("{}{}", crate::auth::flows::TOKEN_PREFIX, tokens::generate());
    let prefix: String = token.chars().take(crate::auth::flows::TOKEN_PREFIX.len() + 4).collect();
    let (id, _) = crate::db::api_tokens::insert(
        &*tx,
        user.org_id,
        user.id,
        &name,
        &tokens::hash(secret, &token),
        &prefix,
        scope,
    )
    .await?;
    crate::db::audit::record(
        &*tx,
        &crate::db::audit::Entry {
            org_id: Some(user.org_id),
            actor_email: Some("operator (portal admin)"),
            action: "api_token.created",
            target_type: Some("api_token"),
            target_id: Some(id.to_string()),
            details: serde_json::json!({ "name": name, "acts_as": user.email, "scope": scope.as_str() }),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}
