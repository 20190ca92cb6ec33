//! The officers' web console: five static files (page, script, languages, style, map) compiled into the binary and served
//! from the API listener, so a closed network needs nothing else (no CDN, no separate
//! server, no build step). The page talks to the same API as every other client.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("console/index.html");
const APP_JS: &str = include_str!("console/app.js");
/// The console's French and Spanish, applied to the page as it is drawn.
const I18N_JS: &str = include_str!("console/i18n.js");
const STYLE_CSS: &str = include_str!("console/style.css");
/// Country outlines for the route map: Natural Earth 1:110m (public domain), made by
/// console/make-world.py.
const WORLD_JSON: &str = include_str!("console/world.json");

/// Only this node's own files and API: no inline script, no other origin, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

/// The web console (sign in with an API token).
#[utoipa::path(
    get,
    path = "/",
    tag = "console",
    security(()),
    responses((status = 200, description = "The console page", content_type = "text/html"))
)]
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// The console's script.
#[utoipa::path(
    get,
    path = "/console/app.js",
    tag = "console",
    security(()),
    responses((status = 200, description = "JavaScript", content_type = "text/javascript"))
)]
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// The console's style sheet.
#[utoipa::path(
    get,
    path = "/console/style.css",
    tag = "console",
    security(()),
    responses((status = 200, description = "CSS", content_type = "text/css"))
)]
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

/// The route map's country outlines (Natural Earth, public domain).
#[utoipa::path(
    get,
    path = "/console/world.json",
    tag = "console",
    security(()),
    responses((status = 200, description = "Country outlines as SVG paths", content_type = "application/json"))
)]
pub async fn world() -> Response {
    asset("application/json", WORLD_JSON)
}

/// The console's languages (French and Spanish beside the English of the page).
#[utoipa::path(
    get,
    path = "/console/i18n.js",
    tag = "console",
    security(()),
    responses((status = 200, description = "JavaScript", content_type = "text/javascript"))
)]
pub async fn languages() -> Response {
    asset("text/javascript; charset=utf-8", I18N_JS)
}
