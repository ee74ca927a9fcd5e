//! Acknowledging a to-do item from the dashboard or a site page.

use chrono::Utc;
use maud::html;
use poem::http::StatusCode;
use poem::web::{Data, Form};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use uuid::Uuid;

use super::respond::{self, is_htmx, see_other};
use crate::auth::current::{Admin, ClientInfo};
use crate::compliance::{self, Reach};
use crate::error::{AppError, AppResult};
use crate::paths;
use crate::state::AppState;
use crate::views::todo::{TodoContext, item_id, todo_item};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AckForm {
    site_id: String,
    check_type: String,
    host: String,
    note: String,
}

/// `POST /client/todo/acknowledge` (owner, admin): for htmx, the item as
/// it now reads (or with the refusal by its note field, 422); without
/// JavaScript, back to the site page at the item.
#[handler]
pub async fn view_todo_acknowledge_post(
    state: Data<&AppState>,
    req: &Request,
    Admin(user): Admin,
    Form(f): Form<AckForm>,
) -> AppResult<Response> {
    let site_id = Uuid::parse_str(f.site_id.trim()).map_err(|_| {
        AppError::BadRequest("the form's site is not a site id; reload the page".into())
    })?;
    let db = state.pool().get().await?;
    let result = respond::form(
        crate::todo::acknowledge(
            &**db,
            &user,
            &ClientInfo::of(req),
            site_id,
            &f.check_type,
            &f.host,
            &f.note,
        )
        .await,
    )?;
    let id = item_id(site_id, &f.check_type, &f.host);
    if !is_htmx(req) {
        return match result {
            Ok(_) => Ok(see_other(format!("{}#{id}", paths::site(site_id)))),
            Err(fix) => Err(AppError::Unprocessable(fix.message)),
        };
    }
    let org = compliance::org(&**db, user.org_id).await?;
    let ctx = TodoContext {
        now: Utc::now(),
        partner: org.partner_name.as_deref(),
        csrf_token: user.csrf_token(),
    };
    match result {
        Ok(item) => Ok(todo_item(&item, &ctx, None).into_response()),
        Err(fix) => {
            let reach = Reach::of(&**db, &user).await?;
            let items = crate::todo::list(&**db, user.org_id, &reach, Some(site_id)).await;
            let item = items.ok().and_then(|items| {
                items
                    .into_iter()
                    .find(|i| i.check.check_type == f.check_type && i.check.host == f.host)
            });
            let markup = match item {
                Some(item) => todo_item(&item, &ctx, Some(&fix.message)),
                // No longer open (it passed meanwhile): say so in its place.
                None => html! {
                    li.todo-item id=(id) {
                        p.field-error role="alert" { (fix.message) }
                    }
                },
            };
            Ok(respond::html(StatusCode::UNPROCESSABLE_ENTITY, markup, None))
        }
    }
}
