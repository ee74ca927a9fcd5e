//! Pages of the reports area.

use poem::Route;

/// Adds this area's pages to the portal's routes.
pub fn routes(app: Route) -> Route {
    app
}
