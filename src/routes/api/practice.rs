//! The practice's settings: its time zone. Times in the API stay UTC
//! (ISO 8601); the zone is how pages, the monthly PDF and emails show them.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};

use super::error::{AUTHED, ApiError, JSON_BODY, UNPROCESSABLE};
use super::types::StrictString;
use crate::auth::current::{ApiOwner, ApiReader, ClientInfo};
use crate::practice::{self, ZoneSetting};
use crate::state::AppState;
use crate::zone::Source;

#[derive(Tags)]
enum ApiTags {
    /// Your practice's settings.
    Practice,
}

/// Where the zone comes from: `set` (the owner chose it), `state` (the
/// zone of the practice's US state) or `default` (nothing known: UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ZoneSource {
    Set,
    State,
    Default,
}

#[derive(Debug, Object)]
pub struct OrgSettings {
    /// The IANA time zone pages, the monthly PDF and emails show times in,
    /// e.g. `America/Los_Angeles`.
    pub time_zone: String,
    pub time_zone_source: ZoneSource,
    /// The practice's US state (two letters), when known.
    #[oai(nullable)]
    pub state: Option<String>,
}

impl From<ZoneSetting> for OrgSettings {
    fn from(z: ZoneSetting) -> Self {
        OrgSettings {
            time_zone: z.zone.name().to_owned(),
            time_zone_source: match z.source {
                Source::Set => ZoneSource::Set,
                Source::State => ZoneSource::State,
                Source::Default => ZoneSource::Default,
            },
            state: z.state,
        }
    }
}

#[derive(Debug, Object)]
pub struct OrgSettingsBody {
    /// An IANA time zone name, e.g. `America/Chicago` or `UTC`; a name that
    /// is not one is a 422.
    #[oai(validator(max_length = 64, pattern = r"^[A-Za-z][A-Za-z0-9_+/-]*$"))]
    pub time_zone: StrictString,
}

pub struct PracticeApi;

#[OpenApi(prefix_path = "/client", tag = "ApiTags::Practice")]
impl PracticeApi {
    /// Your practice's settings
    ///
    /// The time zone your practice's pages, monthly PDF and emails show
    /// times in, and where it comes from. The API's own times are UTC.
    #[oai(path = "/org/settings", method = "get", operation_id = "get_org_settings")]
    async fn get_org_settings(
        &self,
        state: Data<&AppState>,
        user: ApiReader,
    ) -> Result<Json<OrgSettings>, ApiError<AUTHED>> {
        let db = state.pool().get().await?;
        Ok(Json(practice::zone_setting(&**db, user.org_id).await?.into()))
    }

    /// Set your practice's time zone (owner)
    ///
    /// Every page, the monthly PDF and emails show times in it, with the
    /// zone named; stored times and the API stay UTC. Audited as
    /// `org.settings_changed`.
    #[oai(path = "/org/settings", method = "put", operation_id = "set_org_settings")]
    async fn set_org_settings(
        &self,
        state: Data<&AppState>,
        req: &Request,
        user: ApiOwner,
        body: Json<OrgSettingsBody>,
    ) -> Result<Json<OrgSettings>, ApiError<{ AUTHED | JSON_BODY | UNPROCESSABLE }>> {
        let db = state.pool().get().await?;
        let set = practice::set_zone(&**db, &user, &ClientInfo::of(req), &body.0.time_zone).await?;
        Ok(Json(set.into()))
    }
}
