//! Routes, the access-control layer in front of them, and the accept loop
//! (plain HTTP on loopback, TLS otherwise). Handlers parse the request,
//! call the library on a blocking thread and return its answer as JSON.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::guard::{Deny, Guard, SessionInfo, CSRF_HEADER};
use super::machines::{self, DomainAction, Host, HostAction};
use super::traffic::Traffic;
use super::watches::{WatchRequest, Watches};
use super::{assets, bridge, logs, Bus};
use crate::virt::{self, connect::VirtError};

/// The running console.
pub struct App {
    pub guard: Guard,
    pub hosts: Vec<Host>,
    pub bus: Bus,
    pub watches: Arc<Watches>,
    pub logs: Vec<PathBuf>,
    pub traffic: Arc<Traffic>,
}

type Shared = Arc<App>;

/// The policy sent with every answer: only this console's own scripts
/// run; nothing is framed, nothing loads from elsewhere. Styles may be
/// inline (xterm.js and noVNC set them); scripts may not.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// An error answer: `{"error": "..."}` with its status.
#[derive(Debug)]
pub struct ApiError(pub u16, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.0).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<VirtError> for ApiError {
    fn from(e: VirtError) -> Self {
        ApiError(machines::status_of(&e), e.to_string())
    }
}

impl From<Deny> for ApiError {
    fn from(d: Deny) -> Self {
        ApiError(d.status(), d.to_string())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ApiError(500, format!("the worker failed: {e}"))))
}

impl App {
    fn host(&self, id: usize) -> Result<&Host, ApiError> {
        self.hosts.get(id).ok_or_else(|| {
            ApiError(
                404,
                format!("no host {id} (this console has {})", self.hosts.len()),
            )
        })
    }
}

fn query_param<'a>(q: Option<&'a str>, key: &str) -> Option<&'a str> {
    q?.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// POSTs that change nothing in the lab and so stay open under --read-only.
fn harmless_post(path: &str) -> bool {
    path.starts_with("/api/watch") || path.starts_with("/api/traffic/reveal/")
}

fn deny(d: Deny, api: bool) -> Response {
    let code = StatusCode::from_u16(d.status()).unwrap_or(StatusCode::FORBIDDEN);
    if api {
        (code, Json(json!({ "error": d.to_string() }))).into_response()
    } else {
        (
            code,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}: {d}\n", code.as_u16()),
        )
            .into_response()
    }
}

fn secure_headers(h: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    // A page with a policy of its own (the log report, framed by the Logs
    // page) keeps it.
    if !h.contains_key("content-security-policy") {
        set(h, "content-security-policy", CSP);
        set(h, "x-frame-options", "DENY");
    }
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// Runs before every route: Host, then the token or the session, then
/// Origin + CSRF for anything that changes state or opens a WebSocket.
async fn access(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let hdr = |req: &Request, k: header::HeaderName| {
        req.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let mut resp = 'r: {
        if let Err(d) = app.guard.check_host(hdr(&req, header::HOST).as_deref()) {
            break 'r deny(d, api);
        }
        let now = Instant::now();
        if req.method() == Method::GET {
            if let Some(token) = query_param(req.uri().query(), "token") {
                break 'r match app.guard.login(token, peer.ip(), now) {
                    Ok(s) => {
                        let mut r = (
                            StatusCode::SEE_OTHER,
                            [(header::LOCATION, req.uri().path().to_string())],
                        )
                            .into_response();
                        if let Ok(v) = HeaderValue::from_str(&app.guard.cookie(&s)) {
                            r.headers_mut().insert(header::SET_COOKIE, v);
                        }
                        r
                    }
                    Err(d) => deny(d, api),
                };
            }
        }
        let session = match app.guard.session(hdr(&req, header::COOKIE).as_deref(), now) {
            Ok(s) => s,
            Err(d) => break 'r deny(d, api),
        };
        let ws = hdr(&req, header::UPGRADE).is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        let safe = matches!(*req.method(), Method::GET | Method::HEAD);
        if ws || !safe {
            if let Err(d) = app.guard.check_origin(hdr(&req, header::ORIGIN).as_deref()) {
                break 'r deny(d, api);
            }
            let given = if ws {
                query_param(req.uri().query(), "csrf").map(String::from)
            } else {
                hdr(&req, header::HeaderName::from_static(CSRF_HEADER))
            };
            if let Err(d) = app.guard.check_csrf(&session, given.as_deref()) {
                break 'r deny(d, api);
            }
            if !safe && app.guard.read_only && !harmless_post(req.uri().path()) {
                break 'r deny(Deny::ReadOnly, api);
            }
        }
        req.extensions_mut().insert(session);
        next.run(req).await
    };
    secure_headers(resp.headers_mut());
    resp
}

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
        .route("/api/session", get(session_info))
        .route("/api/events", get(events))
        .route("/api/hosts/{h}/domains/{d}", post(domain_action))
        .route("/api/hosts/{h}/domains/{d}/xml", get(domain_xml))
        .route("/api/hosts/{h}/domains/{d}/info", get(domain_info))
        .route("/api/hosts/{h}/domains/{d}/snapshots", get(snapshots))
        .route("/api/hosts/{h}/domains/{d}/vnc", get(vnc))
        .route("/api/hosts/{h}/domains/{d}/serial", get(serial))
        .route("/api/hosts/{h}/diff", get(diff))
        .route("/api/hosts/{h}", post(host_action))
        .route("/api/watch", post(watch_start))
        .route("/api/watch/{id}/stop", post(watch_stop))
        .route("/api/logs/{file}/{query}", get(log_query))
        .route("/logs/{file}/report", get(log_report))
        .route("/api/traffic/reveal/{id}", post(reveal))
        .fallback(|| async { ApiError(404, "no such page".into()) })
        .layer(middleware::from_fn_with_state(Arc::clone(&app), access))
        .with_state(app)
}

async fn index() -> Response {
    asset(Path("index.html".to_string())).await
}

async fn asset(Path(name): Path<String>) -> Response {
    match assets::get(&name) {
        Some((mime, bytes)) => (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        None => ApiError(404, format!("no asset {name:?}")).into_response(),
    }
}

async fn session_info(
    State(app): State<Shared>,
    axum::Extension(s): axum::Extension<SessionInfo>,
) -> Json<Value> {
    Json(json!({
        "csrf": s.csrf,
        "read_only": app.guard.read_only,
        "version": env!("CARGO_PKG_VERSION"),
        "hosts": app.hosts.iter().map(|h| json!({ "id": h.id, "uri": h.uri, "driver": h.driver })).collect::<Vec<_>>(),
        "logs": app.logs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "ifaces": app.traffic.ifaces,
        "watches": app.watches.list(),
    }))
}

/// Server-sent events: every host's view when it changes, then watches,
/// jobs, logs and traffic as they happen.
async fn events(
    State(app): State<Shared>,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let (tx, rx) = mpsc::channel::<SseEvent>(256);
    for h in &app.hosts {
        let (mut view, tx) = (h.view.clone(), tx.clone());
        tokio::spawn(async move {
            loop {
                let data = serde_json::to_string(&**view.borrow_and_update()).unwrap_or_default();
                if tx
                    .send(SseEvent::default().event("host").data(data))
                    .await
                    .is_err()
                    || view.changed().await.is_err()
                {
                    break;
                }
            }
        });
    }
    let mut bus = app.bus.subscribe();
    tokio::spawn(async move {
        loop {
            match bus.recv().await {
                Ok(e) => {
                    if tx
                        .send(SseEvent::default().event(e.kind).data(e.data.as_str()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
    });
    let stream =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn domain_action(
    State(app): State<Shared>,
    Path((h, d)): Path<(usize, String)>,
    body: Result<Json<DomainAction>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(action) = body.map_err(|e| ApiError(400, format!("bad action: {}", e.body_text())))?;
    let host = app.host(h)?;
    let s = Arc::clone(&host.session);
    let sessions: Vec<Arc<virt::connect::Session>> =
        app.hosts.iter().map(|h| Arc::clone(&h.session)).collect();
    let kind = match &action {
        DomainAction::Migrate { .. } => "migrate",
        _ => "action",
    };
    let bus = app.bus.clone();
    let (bus2, name2, name) = (bus.clone(), d.clone(), d.clone());
    let started = Instant::now();
    let r = blocking(move || {
        machines::act(
            &s,
            &d,
            action,
            |i| sessions.get(i).cloned(),
            move |p| {
                super::publish(
                    &bus2,
                    "job",
                    &json!({ "kind": "migrate", "host": h, "domain": name2, "progress": p }),
                );
            },
        )
        .map_err(ApiError::from)
    })
    .await;
    for host in &app.hosts {
        host.nudge.poke();
    }
    if kind == "migrate" {
        let end = match &r {
            Ok(v) => {
                json!({ "kind": "migrate", "host": h, "domain": name, "done": true, "report": v })
            }
            Err(e) => {
                json!({ "kind": "migrate", "host": h, "domain": name, "done": true, "error": e.1 })
            }
        };
        super::publish(&bus, "job", &end);
    }
    let v = r?;
    Ok(Json(
        json!({ "ok": true, "ms": started.elapsed().as_millis() as u64, "result": v }),
    ))
}

async fn host_action(
    State(app): State<Shared>,
    Path(h): Path<usize>,
    body: Result<Json<HostAction>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(action) = body.map_err(|e| ApiError(400, format!("bad action: {}", e.body_text())))?;
    let host = app.host(h)?;
    let s = Arc::clone(&host.session);
    let r = blocking(move || machines::host_act(&s, action).map_err(ApiError::from)).await;
    host.nudge.poke();
    Ok(Json(json!({ "ok": true, "result": r? })))
}

#[derive(Deserialize)]
struct XmlQuery {
    #[serde(default)]
    inactive: bool,
}

async fn domain_xml(
    State(app): State<Shared>,
    Path((h, d)): Path<(usize, String)>,
    Query(q): Query<XmlQuery>,
) -> Result<Json<Value>, ApiError> {
    let s = Arc::clone(&app.host(h)?.session);
    let xml =
        blocking(move || virt::domain::dumpxml(&s, &d, q.inactive).map_err(ApiError::from)).await?;
    Ok(Json(json!({ "xml": xml })))
}

async fn domain_info(
    State(app): State<Shared>,
    Path((h, d)): Path<(usize, String)>,
) -> Result<Json<Value>, ApiError> {
    let s = Arc::clone(&app.host(h)?.session);
    let r = blocking(move || virt::domain::info(&s, &d).map_err(ApiError::from)).await?;
    Ok(Json(serde_json::to_value(r).unwrap_or_default()))
}

async fn snapshots(
    State(app): State<Shared>,
    Path((h, d)): Path<(usize, String)>,
) -> Result<Json<Value>, ApiError> {
    let s = Arc::clone(&app.host(h)?.session);
    let r = blocking(move || virt::snapshot::list(&s, &d).map_err(ApiError::from)).await?;
    Ok(Json(serde_json::to_value(r).unwrap_or_default()))
}

#[derive(Deserialize)]
struct DiffQuery {
    a: String,
    b: String,
    #[serde(default)]
    inactive: bool,
}

async fn diff(
    State(app): State<Shared>,
    Path(h): Path<usize>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<Value>, ApiError> {
    let s = Arc::clone(&app.host(h)?.session);
    let lines = blocking(move || {
        let xml = |n: &str| virt::domain::dumpxml(&s, n, q.inactive).map_err(ApiError::from);
        Ok(virt::xml::line_diff(&xml(&q.a)?, &xml(&q.b)?, 2))
    })
    .await?;
    Ok(Json(json!({ "lines": lines })))
}

async fn vnc(
    State(app): State<Shared>,
    Path((h, d)): Path<(usize, String)>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if app.guard.read_only {
        return Err(ApiError(403, "the console runs --read-only: the graphical console sends keys and clicks, so it is closed".into()));
    }
    let s = Arc::clone(&app.host(h)?.session);
    let name = d.clone();
    let conn =
        blocking(move || virt::display::open_display(&s, &d).map_err(ApiError::from)).await?;
    eprintln!("tplab: graphical console of {name}: {}", conn.describe());
    Ok(ws
        .protocols(["binary"])
        .on_upgrade(move |sock| bridge::vnc(sock, conn)))
}

async fn serial(
    State(app): State<Shared>,
    Path((h, d)): Path<(usize, String)>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let s = Arc::clone(&app.host(h)?.session);
    let stream =
        blocking(move || virt::domain::open_console(&s, &d).map_err(ApiError::from)).await?;
    let ro = app.guard.read_only;
    Ok(ws.on_upgrade(move |sock| bridge::serial(sock, stream, ro)))
}

async fn watch_start(
    State(app): State<Shared>,
    body: Result<Json<WatchRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError(400, format!("bad watch: {}", e.body_text())))?;
    let id = app
        .watches
        .start(req, app.bus.clone())
        .map_err(|e| ApiError(400, e))?;
    Ok(Json(json!({ "id": id })))
}

async fn watch_stop(
    State(app): State<Shared>,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    if app.watches.stop(id) {
        Ok(Json(json!({ "stopped": id })))
    } else {
        Err(ApiError(404, format!("no running watch {id}")))
    }
}

async fn log_query(
    State(app): State<Shared>,
    Path((file, what)): Path<(usize, String)>,
    Query(q): Query<logs::LogQuery>,
) -> Result<Json<Value>, ApiError> {
    let path = app
        .logs
        .get(file)
        .cloned()
        .ok_or_else(|| ApiError(404, format!("no log {file}")))?;
    let v = blocking(move || logs::query(&path, &what, &q).map_err(|e| ApiError(400, e))).await?;
    Ok(Json(v))
}

/// tplog's HTML report of one log, for the Logs page's frame: its own
/// policy (its script and style by hash), framed only by the console.
async fn log_report(
    State(app): State<Shared>,
    Path(file): Path<usize>,
    Query(q): Query<logs::LogQuery>,
) -> Response {
    let Some(path) = app.logs.get(file).cloned() else {
        return (StatusCode::NOT_FOUND, format!("no log {file}\n")).into_response();
    };
    match blocking(move || logs::report_page(&path, &q).map_err(|e| ApiError(400, e))).await {
        Ok(page) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
                (header::CONTENT_SECURITY_POLICY, format!("{}; frame-ancestors 'self'", crate::log::panels::html::csp(false))),
                (header::X_FRAME_OPTIONS, "SAMEORIGIN".to_string()),
            ],
            page,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn reveal(State(app): State<Shared>, Path(id): Path<u64>) -> Result<Json<Value>, ApiError> {
    app.traffic.reveal(id).map(Json).ok_or_else(|| {
        ApiError(
            404,
            format!(
                "finding {id} is no longer kept (the last {} are)",
                super::traffic::KEEP
            ),
        )
    })
}

/// Accepts connections until the process ends; each one is served on its
/// own task (TLS handshakes time out after 10 s).
pub async fn serve(
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
) -> std::io::Result<()> {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;
    listener.set_nonblocking(true)?;
    let l = tokio::net::TcpListener::from_std(listener)?;
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (sock, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("tplab: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        let svc = router
            .clone()
            .map_request(move |mut r: Request<hyper::body::Incoming>| {
                r.extensions_mut().insert(ConnectInfo(peer));
                r.map(Body::new)
            });
        let svc = TowerToHyperService::new(svc);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let http = hyper::server::conn::http1::Builder::new();
            match acceptor {
                Some(a) => {
                    let Ok(Ok(s)) =
                        tokio::time::timeout(Duration::from_secs(10), a.accept(sock)).await
                    else {
                        return;
                    };
                    let _ = http
                        .serve_connection(TokioIo::new(s), svc)
                        .with_upgrades()
                        .await;
                }
                None => {
                    let _ = http
                        .serve_connection(TokioIo::new(sock), svc)
                        .with_upgrades()
                        .await;
                }
            }
        });
    }
}
