//! The reference appliance client (`portal appliance push`): signs bundle
//! files with a site's key and posts them, for appliance vendors and the demo.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer, SigningKey};
use uuid::Uuid;

/// Reads a PKCS#8 PEM Ed25519 private key (as `portal admin create-site --key-out` writes).
pub fn read_key(path: &Path) -> Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        anyhow::anyhow!("{} is not a PKCS#8 PEM Ed25519 private key ({e})", path.display())
    })
}

/// Signature header value for `bytes`: hex Ed25519 over exactly those bytes.
pub fn signature_hex(key: &SigningKey, bytes: &[u8]) -> String {
    hex::encode(key.sign(bytes).to_bytes())
}

/// What the portal said about one pushed bundle.
#[derive(Debug)]
pub struct Pushed {
    pub file: PathBuf,
    pub created: bool,
    pub chain_position: i64,
    pub bundle_id: String,
}

/// Signs and posts each file in order; stops at the first refusal, with the
/// portal's message.
pub async fn push(
    url: &str,
    site: Uuid,
    key: &SigningKey,
    files: &[PathBuf],
) -> Result<Vec<Pushed>> {
    let endpoint = format!("{}/api/appliance/evidence", url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .user_agent(concat!("osiris-appliance-reference/", env!("CARGO_PKG_VERSION")))
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .context("setting up the HTTP client")?;
    let bar = progress(files.len() as u64, "pushing");
    let mut out = Vec::new();
    for file in files {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let declared: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        if declared["site_id"].as_str() != Some(site.to_string().as_str()) {
            bail!(
                "{} belongs to site {}, not --site {site}; the portal would refuse its signature",
                file.display(),
                declared["site_id"]
            );
        }
        let response = client
            .post(&endpoint)
            .header("content-type", "application/json")
            .header("x-agent-signature", signature_hex(key, &bytes))
            .body(bytes)
            .send()
            .await
            .with_context(|| {
                format!("cannot reach {endpoint}: is the portal running and the URL right?")
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if !status.is_success() {
            bail!(
                "{} was refused ({status}): {}",
                file.display(),
                body["message"].as_str().unwrap_or("no message")
            );
        }
        out.push(Pushed {
            file: file.clone(),
            created: status.as_u16() == 201,
            chain_position: body["chain_position"].as_i64().unwrap_or(-1),
            bundle_id: body["bundle_id"].as_str().unwrap_or_default().to_owned(),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
        "{what} [{{bar:40.cyan/blue}}] {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)"
    )) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
