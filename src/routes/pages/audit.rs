//! Pages of the audit area: `/client/audit` (owner, admin), the full page,
//! the `#audit-results` fragment (htmx, on filter changes) or, with a
//! cursor, the next rows plus a new `#audit-load-more`.

use maud::html;
use poem::web::Data;
use poem::{Request, Response, Route, get, handler};
use serde::Deserialize;

use super::filters::{
    date_field, day_range, keep, load_more_cursor, load_more_failed, outcome, page_size, quoted,
    read_query,
};
use super::respond;
use crate::audit::{self as area, DEFAULT_PAGE, MAX_PAGE, parse_action, parse_actor};
use crate::auth::current::Reader;
use crate::db::audit::{self, Cursor, Filter};
use crate::error::{AppError, AppResult};
use crate::paths;
use crate::state::AppState;
use crate::views::audit::{self as views, FieldError, FilterOptions, FilterValues, Results};
use crate::views::layout::NavUser;

/// Adds this area's pages to the portal's routes.
pub fn routes(app: Route) -> Route {
    app.at(paths::AUDIT, get(view_audit_get))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuditQuery {
    #[serde(flatten)]
    values: FilterValues,
    cursor: Option<String>,
}

struct Parsed {
    filter: Filter,
    limit: u32,
    after: Option<Cursor>,
}

/// Reads the filters; every problem is reported, not just the first.
fn parse(values: &FilterValues, cursor: Option<&str>) -> Result<Parsed, Vec<FieldError>> {
    let mut errors = Vec::new();
    let actor = keep(
        &mut errors,
        match values.actor.trim() {
            "" => Ok(None),
            raw => parse_actor(raw).map(Some).map_err(|_| FieldError {
                field: "actor",
                message: format!("Person {} is not a user id or an email address.", quoted(raw)),
            }),
        },
    );
    let action = keep(
        &mut errors,
        match values.action.trim() {
            "" => Ok(None),
            raw => parse_action(raw).map(Some).map_err(|m| FieldError {
                field: "action",
                message: format!("Action {} {m}.", quoted(raw)),
            }),
        },
    );
    let from = keep(&mut errors, date_field("from", "From", &values.from));
    let to = keep(&mut errors, date_field("to", "To", &values.to));
    let limit = page_size(&mut errors, &values.limit, DEFAULT_PAGE, MAX_PAGE);
    let after = load_more_cursor(&mut errors, cursor, "the log");
    let (from, to) = day_range(&mut errors, from, to);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Parsed { filter: Filter { actor, action, from, to }, limit, after })
}

/// `GET /client/audit`.
#[handler]
pub async fn view_audit_get(
    state: Data<&AppState>,
    req: &Request,
    Reader(user): Reader,
) -> AppResult<Response> {
    let query: AuditQuery = read_query(req, &["actor", "action", "from", "to", "limit", "cursor"])?;
    let fragment = respond::wants_fragment(req);
    let load_more = fragment && query.cursor.is_some();
    let values = &query.values;

    let db = state.pool().get().await?;
    let reach = crate::reach::Reach::of(&**db, &user).await?;
    let parsed = parse(values, query.cursor.as_deref());
    let page = match &parsed {
        Ok(p) => {
            Some(area::list(&**db, &user, &reach, &p.filter, p.after.as_ref(), p.limit).await?)
        }
        Err(_) => None,
    };
    let (status, message) = outcome(&parsed);
    let next_url = page.as_ref().and_then(|p| p.next).map(|c| values.url(Some(&c.encode())));
    let results = match (&parsed, &page) {
        (Ok(_), Some(page)) => Results::Page { entries: &page.entries, next_url: next_url.clone() },
        (Err(errors), _) => Results::Invalid(errors),
        (Ok(_), None) => {
            return Err(AppError::internal(anyhow::anyhow!("parsed filters without a page")));
        }
    };
    let markup = if load_more {
        match &page {
            Some(page) => html! {
                (views::audit_rows(&page.entries))
                // Out-of-band parts after table rows go in a <template>:
                // parsed after a row, a bare <div> or <form> is torn apart
                // (a form in a table context loses its fields).
                template { (views::load_more(next_url.as_deref(), true)) }
            },
            None => load_more_failed(message.as_deref()),
        }
    } else if fragment {
        views::audit_results(values, &results)
    } else {
        let actors = audit::actors(&**db, user.org_id).await?;
        let actions = audit::actions(&**db, user.org_id).await?;
        views::audit_page(
            &NavUser::reaching(&user, &reach),
            values,
            &FilterOptions { actors: &actors, actions: &actions },
            &results,
        )
    };
    let resp = respond::html(status, markup, message.as_deref());
    // The filter form's own request (not "Load more"): the address bar
    // follows the filters applied.
    if fragment && !load_more {
        return Ok(respond::with_filter_url(resp, req, &values.url(None)));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(f: impl FnOnce(&mut FilterValues)) -> FilterValues {
        let mut v = FilterValues::default();
        f(&mut v);
        v
    }

    #[test]
    fn empty_values_mean_no_filter() {
        let p = parse(&FilterValues::default(), None).ok().unwrap();
        assert!(p.filter.actor.is_none() && p.filter.action.is_none() && p.filter.from.is_none());
        assert_eq!(p.limit, DEFAULT_PAGE);
    }

    #[test]
    fn every_bad_value_is_reported() {
        let errors = parse(
            &values(|v| {
                v.actor = "no\u{7}body".into();
                v.action = "Auth!".into();
                v.from = "yesterday".into();
                v.to = "2026-13-01".into();
                v.limit = "0".into();
            }),
            Some("!!"),
        )
        .err()
        .unwrap();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["actor", "action", "from", "to", "limit", "cursor"]);
    }

    #[test]
    fn dates_cover_whole_days() {
        let p = parse(
            &values(|v| {
                v.from = "2026-11-01".into();
                v.to = "2026-11-01".into();
            }),
            None,
        )
        .ok()
        .unwrap();
        assert_eq!(p.filter.from.unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(p.filter.to.unwrap().to_rfc3339(), "2026-11-02T00:00:00+00:00");
    }
}
