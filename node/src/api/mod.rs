//! The HTTP API (axum): officers' and national systems' way into the node, and the
//! administrators' window on it. JSON under /api/v1, the live feed as Server-Sent
//! Events, Prometheus metrics, health and readiness.
//!
//! Architecture Invariant: this is the only module that knows HTTP and JSON. Every
//! route is registered through `utoipa_axum::routes!`, which puts it in the router and
//! in the OpenAPI document at once; every /api route passes [`authorize`] first.

mod console;
mod error;
mod events;
mod extract;
pub mod formats;
mod metrics;
mod routes;
pub(crate) mod serve;

/// What the API needs of a running node: cheap to clone.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    pub store: Store,
    pub client: Client,
    pub publisher: Publisher,
    /// Who may sign what, replaced live as governance entries arrive.
    pub membership: crate::membership::MembershipView,
    /// The node directory's key files, for a key rotation (`None` without a
    /// directory).
    pub rotation: Option<crate::membership::Rotation>,
    /// Watch lists, webhooks and the notifications of the live feed.
    pub notifier: crate::notify::Notifier,
    /// Attachment blobs: this node's, and fetched from members on demand.
    pub attachments: crate::blobs::fetch::Fetcher,
    /// How long a read of an attachment waits for it to arrive from members.
    pub blob_fetch_timeout: std::time::Duration,
}

impl NodeHandle {
    pub fn public_key(&self) -> PublicKey {
        self.publisher.public_key()
    }
}

pub mod views;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use customs_protocol::PublicKey;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{Audit, Event};
use crate::tokens::{Caller, Role, Tokens};
pub use error::{ApiError, ErrorBody};
use metrics::HttpCounters;
use routes::{
    aeo, alerts, attachments, check, control, entries, exchange, groups, members, node, notify,
    operations, stats, taxii,
};
use serve::{ConnectionCaps, Connections};

use crate::config::ApiSection;
use crate::network::Client;
use crate::publish::Publisher;
use crate::store::Store;

pub use crate::limits::DEFAULT_PAGE_LIMIT;

/// Who this node is, for the status and the live feed.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    pub code: String,
    pub name: String,
    pub network: String,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    pub node: NodeHandle,
    pub identity: NodeIdentity,
    pub tokens: Tokens,
    pub audit: Audit,
    pub limits: ApiSection,
    /// When the API started (Unix ms): the node's start, for the status.
    pub started_at_ms: u64,
    http: HttpCounters,
    connections: Arc<Connections>,
    event_streams: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
    /// The OpenAPI document, rendered once.
    openapi_json: String,
}

pub type ApiState = Arc<Shared>;

impl Shared {
    /// The member code a node key is attributed to (a former member's included).
    pub fn code_of(&self, key: &PublicKey) -> Option<String> {
        self.node.membership.code_of(key)
    }

    /// Every node key of the member with this code (its rotated ones included), or
    /// 400 naming the query parameter `field`.
    pub fn member_nodes(&self, field: &str, code: &str) -> Result<Vec<PublicKey>, ApiError> {
        self.node
            .membership
            .get()
            .members
            .get(code)
            .map(|m| m.nodes.clone())
            .ok_or_else(|| ApiError::bad_query(field, format!("{code:?} is not a member code")))
    }

    /// Whether the node key belongs to a current member.
    pub fn is_member(&self, key: &PublicKey) -> bool {
        self.node.membership.is_member(key)
    }

    fn open_event_streams(&self) -> usize {
        self.limits.max_event_streams - self.event_streams.available_permits()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "customs-node API",
        description = "A node of the customs information-sharing network: publish and read signed risk alerts and AEO records. Every /api/v1 route needs `Authorization: Bearer <token>`; readers may GET, publishers may also POST, admins may do everything.",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes and the OpenAPI document describing exactly them.
fn routes() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(alerts::publish_alert, alerts::list_alerts))
        .routes(routes!(alerts::outbound_alerts))
        .routes(routes!(stats::stats))
        .routes(routes!(groups::list_groups, groups::create_group))
        .routes(routes!(groups::add_member))
        .routes(routes!(groups::remove_member))
        .routes(routes!(entries::get_entry))
        .routes(routes!(attachments::upload_attachment))
        .routes(routes!(attachments::get_attachment))
        .routes(routes!(aeo::publish_aeo, aeo::aeo_snapshot))
        .routes(routes!(control::send_request, control::list_requests))
        .routes(routes!(control::get_request))
        .routes(routes!(control::acknowledge))
        .routes(routes!(control::report_result))
        .routes(routes!(control::loop_effectiveness))
        .routes(routes!(notify::list_watchlists, notify::save_watchlist))
        .routes(routes!(notify::watchlist_matches))
        .routes(routes!(notify::delete_watchlist))
        .routes(routes!(notify::list_webhooks, notify::add_webhook))
        .routes(routes!(notify::delete_webhook))
        .routes(routes!(notify::webhook_deliveries))
        .routes(routes!(aeo::aeo_status))
        .routes(routes!(entries::retract))
        .routes(routes!(node::status))
        .routes(routes!(node::forks))
        .routes(routes!(node::tokens))
        .routes(routes!(members::members))
        .routes(routes!(members::proposals, members::propose))
        .routes(routes!(members::approve))
        .routes(routes!(members::certify))
        .routes(routes!(members::revoke))
        .routes(routes!(members::rotate))
        .routes(routes!(members::adopt_charter))
        .routes(routes!(check::check))
        .routes(routes!(operations::export))
        .routes(routes!(exchange::export_stix))
        .routes(routes!(exchange::export_cen))
        .routes(routes!(exchange::import_stix))
        .routes(routes!(exchange::list_drafts))
        .routes(routes!(exchange::get_draft, exchange::delete_draft))
        .routes(routes!(exchange::misp_manifest))
        .routes(routes!(exchange::misp_event))
        .routes(routes!(taxii::discovery))
        .routes(routes!(taxii::api_root))
        .routes(routes!(taxii::collections))
        .routes(routes!(taxii::get_collection))
        .routes(routes!(taxii::objects))
        .routes(routes!(taxii::object))
        .routes(routes!(taxii::manifest))
        .routes(routes!(events::events))
        .routes(routes!(node::openapi_json))
        .routes(routes!(operations::metrics))
        .routes(routes!(operations::healthz))
        .routes(routes!(operations::readyz))
        .routes(routes!(console::index))
        .routes(routes!(console::script))
        .routes(routes!(console::style))
        .routes(routes!(console::world))
        .routes(routes!(console::languages))
        .split_for_parts()
}

/// The OpenAPI document of the routes this node serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The whole HTTP application: `router` (from [`routes`]) with its fallbacks, access
/// check, body limit and request counter.
fn app(router: Router<ApiState>, state: ApiState) -> Router {
    let max_body_bytes = state.limits.max_body_bytes;
    router
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn(refuse_content_encoding))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .with_state(state)
}

/// Refuses a body in an encoding the node does not decode (415): a gzip body must not
/// be read as JSON text. (A request with both Content-Length and Transfer-Encoding
/// never gets here: hyper lets Transfer-Encoding win and closes the connection after
/// the answer, as RFC 9112 section 6.3 asks.)
async fn refuse_content_encoding(request: Request, next: Next) -> Result<Response, ApiError> {
    if let Some(encoding) = request.headers().get(header::CONTENT_ENCODING) {
        let identity = encoding
            .to_str()
            .is_ok_and(|e| e.trim().eq_ignore_ascii_case("identity"));
        if !identity {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_encoding",
                format!(
                    "Content-Encoding {:?} is not supported: send the body uncompressed",
                    String::from_utf8_lossy(encoding.as_bytes())
                ),
            ));
        }
    }
    Ok(next.run(request).await)
}

/// Routes only admin tokens may use.
const ADMIN_ROUTES: [&str; 2] = ["/api/v1/export", "/api/v1/tokens"];

/// Routes outside /api that serve records, and so need a token like /api does: the
/// TAXII server and the MISP feed.
const RECORD_ROUTES: [&str; 2] = ["/taxii2/", "/misp-feed/"];

/// The token of an Authorization header: `Bearer TOKEN`, or `Basic` with the token as
/// the password (what TAXII and other off-the-shelf clients send). The scheme is
/// case-insensitive (RFC 9110).
fn bearer_or_basic_token(header: &str) -> Option<String> {
    use base64::Engine as _;
    let (scheme, value) = header.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(value.trim().to_string());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let (_, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(password.to_string())
}

/// The role a request needs: reading is for readers, anything else for publishers,
/// and the admin routes (and every governance change) for admins. Other routes outside
/// /api (health, readiness, metrics, the console's static files) are open.
fn needed_role(method: &Method, path: &str) -> Option<Role> {
    if RECORD_ROUTES.iter().any(|prefix| path.starts_with(prefix)) {
        return Some(if method == Method::GET || method == Method::HEAD {
            Role::Reader
        } else {
            Role::Publisher
        });
    }
    if !path.starts_with("/api/") {
        return None;
    }
    let governance = path.starts_with("/api/v1/proposals")
        || path.starts_with("/api/v1/keys/")
        || path == "/api/v1/charter";
    let reading = method == Method::GET || method == Method::HEAD;
    // Webhooks send records out of the node and carry secrets.
    let webhooks = path.starts_with("/api/v1/webhooks");
    Some(
        if ADMIN_ROUTES.contains(&path) || (governance && !reading) || webhooks {
            Role::Admin
        } else if method == Method::GET || method == Method::HEAD {
            Role::Reader
        } else {
            Role::Publisher
        },
    )
}

/// Checks the bearer token and its role; the handler finds the [`Caller`] in the
/// request's extensions. Every refusal, every state-changing request and (with
/// `audit.reads`) every read of records goes to the audit log.
async fn authorize(
    State(state): State<ApiState>,
    axum::extract::ConnectInfo(client): axum::extract::ConnectInfo<std::net::SocketAddr>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let metrics_locked = state.limits.metrics_require_token && request.uri().path() == "/metrics";
    let needed = needed_role(request.method(), request.uri().path())
        .or(metrics_locked.then_some(Role::Reader));
    let Some(needed) = needed else {
        return Ok(next.run(request).await);
    };
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let refused = |actor: &str, outcome: &str, error: ApiError| {
        state.audit.record(
            Event::new(outcome, actor, &error.status.as_u16().to_string())
                .with_peer(client.ip())
                .with_detail(format!("{method} {path}")),
        );
        error
    };
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized("send `Authorization: Bearer <token>` (see DIR/api-token)")
        })
        .and_then(|header| {
            bearer_or_basic_token(header.to_str().unwrap_or_default()).ok_or_else(|| {
                ApiError::unauthorized(
                    "the Authorization header must be `Bearer <token>` (or HTTP Basic with the token as the password)",
                )
            })
        })
        .map_err(|e| refused("unknown", "unauthorized", e))?;
    let caller = state.tokens.authenticate(&token).ok_or_else(|| {
        refused(
            "unknown",
            "unauthorized",
            ApiError::unauthorized("this token is not valid on this node"),
        )
    })?;
    if !caller.role.allows(needed) {
        return Err(refused(
            &caller.name,
            "forbidden",
            ApiError::forbidden(format!(
                "token {:?} has role {}; this needs {needed}",
                caller.name, caller.role
            )),
        ));
    }
    request.extensions_mut().insert(caller.clone());
    let response = next.run(request).await;
    audit_request(&state, &caller, &method, &path, client, &response);
    Ok(response)
}

/// The audit line of an authorised request: every one that may change state, and
/// reads of records when `audit.reads` is on. Records are named by id, never shown.
fn audit_request(
    state: &Shared,
    caller: &Caller,
    method: &Method,
    path: &str,
    client: std::net::SocketAddr,
    response: &Response,
) {
    let status = response.status();
    let is_read = method == Method::GET || method == Method::HEAD;
    let action = match (is_read, path) {
        (false, "/api/v1/alerts") => "publish_alert",
        (false, "/api/v1/aeo") => "publish_aeo",
        (false, "/api/v1/retractions") => "retract",
        (false, _) => "request",
        (true, _) if state.audit.records_reads() && is_record_read(path) => "read",
        (true, _) => return,
    };
    let outcome = if status.is_success() {
        match response.headers().get("idempotent-replayed") {
            Some(_) => "replayed".to_string(),
            None => "ok".to_string(),
        }
    } else {
        status.as_u16().to_string()
    };
    let mut event = Event::new(action, &caller.name, &outcome).with_peer(client.ip());
    // A new entry's id is in its Location; a read names what it read by path.
    let id = response
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.rsplit('/').next());
    if let Some(id) = id.filter(|_| !is_read) {
        event = event.with_id(id);
    }
    if is_read || action == "request" {
        event = event.with_detail(format!("{method} {path}"));
    }
    state.audit.record(event);
}

/// The routes that return records (not the node's own state).
fn is_record_read(path: &str) -> bool {
    [
        "/api/v1/alerts",
        "/api/v1/entries/",
        "/api/v1/aeo/",
        "/api/v1/export",
        "/api/v1/forks",
        "/api/v1/events",
        "/api/v1/drafts",
        "/taxii2/api/collections/",
        "/misp-feed/",
    ]
    .iter()
    .any(|prefix| path.starts_with(prefix))
}

async fn count_request(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = request.method().to_string();
    let response = next.run(request).await;
    state
        .http
        .count(&route, &method, response.status().as_u16());
    response
}

/// Starts serving on `listener` until `stop` is set (then stops accepting, ends the
/// live-feed streams and lets requests in flight finish).
pub fn spawn(
    listener: TcpListener,
    node: NodeHandle,
    identity: NodeIdentity,
    tokens: Tokens,
    audit: Audit,
    limits: ApiSection,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop_tx, stop) = watch::channel(false);
    let connections = Arc::new(Connections::new(ConnectionCaps {
        max_total: limits.max_connections,
        max_per_address: limits.max_connections_per_address,
    }));
    // One route list makes both the router and the document it serves.
    let (router, document) = routes();
    let state = Arc::new(Shared {
        node,
        identity,
        tokens,
        audit,
        started_at_ms: crate::clock::now_ms(),
        http: HttpCounters::default(),
        connections: connections.clone(),
        event_streams: Arc::new(Semaphore::new(limits.max_event_streams)),
        stop,
        openapi_json: document.to_pretty_json().unwrap_or_default(),
        limits: limits.clone(),
    });
    let stop = state.stop.clone();
    let app = app(router, state);
    let header_read_timeout = Duration::from_millis(limits.header_read_timeout_ms);
    let task = tokio::spawn(serve::serve(
        listener,
        app,
        connections,
        header_read_timeout,
        stop,
    ));
    (stop_tx, task)
}

/// Waits for `stop` to be set (or its sender dropped).
pub fn stopped(stop: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut stop = stop.clone();
    async move {
        let _ = stop.wait_for(|s| *s).await;
    }
}
