//! The lab in a browser (`tplab serve`): machines on one or more libvirt
//! hosts with every action tpvirt has, their graphical and serial consoles,
//! live usage, a URL watched while a guest is suspended or migrated, the
//! access log's answers and live traffic.
//!
//! The web layer is thin: handlers call the same library functions as the
//! CLIs ([`crate::virt`], [`crate::log`], [`crate::sniff`]). Access control
//! ([`guard`]) runs before every handler. Start order matters for safety:
//! the socket, the libvirt connections and the captures are opened first,
//! then root is dropped (`--user`), and only then do threads start.

pub mod assets;
pub mod bridge;
pub mod guard;
pub mod http;
pub mod logs;
pub mod machines;
pub mod tls;
pub mod traffic;
pub mod watches;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use crate::virt::connect::{Session, VirtError};

/// A pushed update: an SSE event name and its JSON.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: &'static str,
    pub data: Arc<String>,
}

/// Where watches, jobs and captures publish; every open page subscribes.
pub type Bus = tokio::sync::broadcast::Sender<Event>;

/// Publishes `value` as event `kind` (nobody listening is fine).
pub fn publish(bus: &Bus, kind: &'static str, value: &impl serde::Serialize) {
    if let Ok(s) = serde_json::to_string(value) {
        let _ = bus.send(Event {
            kind,
            data: Arc::new(s),
        });
    }
}

/// How the console serves TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsChoice {
    None,
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
}

/// `tplab serve`'s checked configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub uris: Vec<String>,
    pub listen: SocketAddr,
    pub tls: TlsChoice,
    pub read_only: bool,
    /// Drop to this user once everything privileged is open (required as root).
    pub user: Option<String>,
    /// More names the console answers to in `Host` (behind a proxy or a DNS name).
    pub allow_hosts: Vec<String>,
    /// Access logs for the Logs page.
    pub logs: Vec<PathBuf>,
    /// Interfaces captured for the Traffic page.
    pub ifaces: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("refusing to listen on {0} without TLS: anyone on that network could reach the console. Give --cert FILE --key FILE, or --self-signed, or listen on 127.0.0.1")]
    PlainOutsideLoopback(SocketAddr),
    #[error("tplab serve does not run as root: give --user NAME (e.g. --user nobody) and it drops to that user once the socket, the libvirt connections and the captures are open")]
    Root,
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Virt(#[from] VirtError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Capture(#[from] crate::sniff::source::SourceError),
    #[error("{0}")]
    Invalid(String),
    #[error("the web server: {0}")]
    Server(std::io::Error),
}

/// True for 127.0.0.0/8 and ::1 (and IPv4-mapped loopback).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

impl ServeConfig {
    /// The rules that hold before anything is opened.
    pub fn check(&self, euid: u32) -> Result<(), ConsoleError> {
        if !is_loopback(self.listen.ip()) && self.tls == TlsChoice::None {
            return Err(ConsoleError::PlainOutsideLoopback(self.listen));
        }
        if euid == 0 && self.user.is_none() {
            return Err(ConsoleError::Root);
        }
        if self.uris.is_empty() {
            return Err(ConsoleError::Invalid("no libvirt URI (give -c URI)".into()));
        }
        Ok(())
    }

    /// The names a browser may use for this console in `Host`.
    fn host_names(&self) -> Vec<String> {
        let mut v = vec![self.listen.ip().to_string()];
        if is_loopback(self.listen.ip()) || self.listen.ip().is_unspecified() {
            v.extend(["127.0.0.1".into(), "localhost".into(), "::1".into()]);
        }
        v.extend(self.allow_hosts.iter().cloned());
        v
    }
}

/// One libvirt host the console manages.
pub struct HostConn {
    pub id: usize,
    pub uri: String,
    pub driver: String,
    pub session: Arc<Session>,
}

/// Everything opened before privileges are dropped.
pub struct Opened {
    pub listener: TcpListener,
    pub addr: SocketAddr,
    pub hosts: Vec<HostConn>,
    pub captures: Vec<crate::sniff::source::LiveSource>,
    pub tls: Option<tls::Tls>,
    pub guard: guard::Guard,
    pub url: String,
    pub notes: Vec<String>,
}

/// Opens the socket, the libvirt connections and the captures, then drops
/// root if asked. Nothing runs yet.
pub fn open(cfg: &ServeConfig) -> Result<Opened, ConsoleError> {
    // SAFETY: geteuid cannot fail.
    cfg.check(unsafe { libc::geteuid() })?;
    let listener = TcpListener::bind(cfg.listen).map_err(|source| ConsoleError::Listen {
        addr: cfg.listen,
        source,
    })?;
    let addr = listener.local_addr().map_err(ConsoleError::Server)?;
    let mut hosts = Vec::new();
    for (id, uri) in cfg.uris.iter().enumerate() {
        let s = Session::open(uri)?;
        hosts.push(HostConn {
            id,
            uri: uri.clone(),
            driver: s.driver.clone(),
            session: Arc::new(s),
        });
    }
    let mut captures = Vec::new();
    for iface in &cfg.ifaces {
        captures.push(crate::sniff::source::LiveSource::open(
            &crate::sniff::source::LiveOptions::new(iface),
        )?);
    }
    let names = cfg.host_names();
    let tls = match &cfg.tls {
        TlsChoice::None => None,
        TlsChoice::Files { cert, key } => Some(tls::load(cert, key)?),
        TlsChoice::SelfSigned => Some(tls::self_signed(&names)?),
    };
    let mut notes = Vec::new();
    if cfg.user.is_some() || !cfg.ifaces.is_empty() {
        notes.push(crate::sniff::source::drop_privileges(cfg.user.as_deref())?);
    }
    let guard = guard::Guard::new(
        guard::random_hex(32),
        &names,
        addr.port(),
        tls.is_some(),
        cfg.read_only,
    );
    let shown = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let url = format!(
        "{}://{}:{}/?token={}",
        if tls.is_some() { "https" } else { "http" },
        shown,
        addr.port(),
        guard.token()
    );
    Ok(Opened {
        listener,
        addr,
        hosts,
        captures,
        tls,
        guard,
        url,
        notes,
    })
}

/// Serves until the process is stopped: starts the samplers, watches,
/// log followers and captures, then the web server on `threads` workers.
pub fn run(o: Opened, cfg: &ServeConfig) -> Result<(), ConsoleError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ConsoleError::Server)?;
    let (bus, _) = tokio::sync::broadcast::channel(1024);
    let hosts = o.hosts.into_iter().map(machines::start).collect();
    logs::follow(cfg.logs.clone(), bus.clone());
    let traffic = traffic::start(o.captures, bus.clone());
    let app = Arc::new(http::App {
        guard: o.guard,
        hosts,
        bus,
        watches: Arc::default(),
        logs: cfg.logs.clone(),
        traffic,
    });
    let router = http::router(app);
    let tls = o.tls.map(|t| t.config);
    rt.block_on(http::serve(o.listener, tls, router))
        .map_err(ConsoleError::Server)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(listen: &str) -> ServeConfig {
        ServeConfig {
            uris: vec!["test:///default".into()],
            listen: listen.parse().unwrap(),
            tls: TlsChoice::None,
            read_only: false,
            user: None,
            allow_hosts: vec![],
            logs: vec![],
            ifaces: vec![],
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(cfg("127.0.0.1:7878").check(1000).is_ok());
        assert!(cfg("[::1]:7878").check(1000).is_ok());
        for outside in ["0.0.0.0:7878", "[::]:7878", "192.0.2.1:7878"] {
            assert!(
                matches!(
                    cfg(outside).check(1000),
                    Err(ConsoleError::PlainOutsideLoopback(_))
                ),
                "{outside}"
            );
            let mut c = cfg(outside);
            c.tls = TlsChoice::SelfSigned;
            assert!(c.check(1000).is_ok());
        }
    }

    #[test]
    fn root_needs_a_user_to_drop_to() {
        assert!(matches!(
            cfg("127.0.0.1:1").check(0),
            Err(ConsoleError::Root)
        ));
        let mut c = cfg("127.0.0.1:1");
        c.user = Some("nobody".into());
        assert!(c.check(0).is_ok());
    }
}
