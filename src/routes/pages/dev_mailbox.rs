//! `GET /dev/mailbox`: the outbox as a web page, in demo mode only. In any
//! other mode the page does not exist (404), since it shows sign-in links.

use maud::Markup;
use poem::handler;
use poem::http::StatusCode;
use poem::web::Data;

use crate::db::outbox;
use crate::error::AppError;
use crate::state::{AppState, Mode};
use crate::views::dev_mailbox::dev_mailbox_page;

/// How many messages the page shows.
const SHOWN: i64 = 50;

/// The newest outbox messages with their bodies and links; 404 unless the
/// portal runs in demo mode.
#[handler]
pub async fn view_dev_mailbox_get(state: Data<&AppState>) -> Result<Markup, poem::Error> {
    if state.mode() != Mode::Demo {
        return Err(poem::Error::from_status(StatusCode::NOT_FOUND));
    }
    let mails = async {
        let db = state.pool().get().await?;
        outbox::list_recent(&**db, SHOWN).await
    }
    .await
    .map_err(|e: AppError| {
        // The shell renders AppError as the HTML error page.
        let status = e.status();
        poem::Error::new(e, status)
    })?;
    Ok(dev_mailbox_page(&mails))
}
