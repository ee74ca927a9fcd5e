//! The practice's own settings: its time zone ([`crate::zone`]). Read by
//! everyone in the practice; set by the owner, audited as
//! `org.settings_changed`. For the API (`routes/api/practice.rs`) and the
//! settings page alike.

use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::audit::user_entry;
use crate::auth::current::{ClientInfo, CurrentUser};
use crate::db::{audit, orgs};
use crate::error::{AppError, AppResult};
use crate::zone::{self, Source, Tz};

/// Where the practice's times are shown, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSetting {
    pub zone: Tz,
    pub source: Source,
    /// The practice's US state, when known.
    pub state: Option<String>,
}

/// The practice's zone setting.
pub async fn zone_setting(db: &impl GenericClient, org_id: Uuid) -> AppResult<ZoneSetting> {
    let (time_zone, state) = orgs::zone_settings(db, org_id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the caller's org is missing")))?;
    let (zone, source) = zone::effective(time_zone.as_deref(), state.as_deref());
    Ok(ZoneSetting { zone, source, state })
}

/// Sets the practice's time zone (the owner), audited; an unknown name is
/// a 422 that says what to send.
pub async fn set_zone(
    db: &impl GenericClient,
    user: &CurrentUser,
    client: &ClientInfo,
    name: &str,
) -> AppResult<ZoneSetting> {
    let Some(tz) = zone::parse(name) else {
        return Err(AppError::Unprocessable(format!(
            "{:?} is not a time zone name: use an IANA name such as America/New_York, \
             America/Chicago, America/Denver, America/Los_Angeles or UTC",
            name.trim()
        )));
    };
    let before = zone_setting(db, user.org_id).await?;
    orgs::set_time_zone(db, user.org_id, tz.name()).await?;
    audit::record(
        db,
        &audit::Entry {
            target_type: Some("org"),
            target_id: Some(user.org_id.to_string()),
            details: serde_json::json!({
                "time_zone": { "from": before.zone.name(), "to": tz.name() },
            }),
            ..user_entry(user, client, "org.settings_changed")
        },
    )
    .await?;
    Ok(ZoneSetting { zone: tz, source: Source::Set, state: before.state })
}
