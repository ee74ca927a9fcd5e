//! The dashboard page.

use poem::handler;

use crate::auth::current::Viewer;
use crate::views::dashboard::dashboard_page;
use crate::views::layout::NavUser;

#[handler]
pub fn view_dashboard_get(Viewer(user): Viewer) -> maud::Markup {
    dashboard_page(&NavUser::of(&user))
}
