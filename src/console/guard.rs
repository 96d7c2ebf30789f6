//! Who may use the console, decided per request before any handler runs:
//! the `Host` header (DNS rebinding), the start token exchanged for a
//! session cookie (compared in constant time, failures rate-limited), the
//! `Origin` of anything that changes state or opens a WebSocket, and the
//! per-session CSRF token. Pure: no I/O, so every rule is unit-tested.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

/// Name of the session cookie.
pub const COOKIE: &str = "tplab_session";
/// Header carrying the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Failed token attempts from one address allowed per window.
pub const MAX_FAILURES: u32 = 5;
/// Failed token attempts from all addresses allowed per window.
pub const MAX_FAILURES_ALL: u32 = 50;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);

/// Why a request is refused, with the HTTP status it gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Deny {
    #[error("Host {0:?} is not this console's address (a DNS-rebinding guard); open the URL tplab serve printed")]
    Host(String),
    #[error("no valid session: open the URL with the token that tplab serve printed")]
    NoSession,
    #[error("wrong token")]
    BadToken,
    #[error("too many wrong tokens; try again in {0} s")]
    RateLimited(u64),
    #[error("cross-origin request refused (Origin {0:?})")]
    Origin(String),
    #[error("missing or wrong CSRF token")]
    Csrf,
    #[error("the console runs --read-only: nothing can be changed")]
    ReadOnly,
}

impl Deny {
    pub fn status(&self) -> u16 {
        match self {
            Deny::Host(_) | Deny::Origin(_) | Deny::Csrf | Deny::ReadOnly => 403,
            Deny::NoSession | Deny::BadToken => 401,
            Deny::RateLimited(_) => 429,
        }
    }
}

/// Random bytes as lowercase hex, from the OS.
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("the OS random source");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[derive(Debug, Clone)]
struct SessionState {
    csrf: String,
    seen: Instant,
}

#[derive(Debug, Default)]
struct Failures {
    per_ip: HashMap<IpAddr, (Instant, u32)>,
    all: Option<(Instant, u32)>,
}

/// The console's access rules and live sessions.
#[derive(Debug)]
pub struct Guard {
    token: String,
    /// `host:port` forms a browser may send in `Host`.
    hosts: Vec<String>,
    /// `scheme://host:port` forms a browser may send in `Origin`.
    origins: Vec<String>,
    pub tls: bool,
    pub read_only: bool,
    sessions: Mutex<HashMap<String, SessionState>>,
    failures: Mutex<Failures>,
}

/// A request's session, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub csrf: String,
}

impl Guard {
    /// `names`: the host names and addresses the console answers to
    /// (127.0.0.1, localhost, the listen address, `--allow-host` names);
    /// `port`: the port it listens on.
    pub fn new(token: String, names: &[String], port: u16, tls: bool, read_only: bool) -> Guard {
        let scheme = if tls { "https" } else { "http" };
        let mut hosts = Vec::new();
        for n in names {
            let n = n.to_ascii_lowercase();
            let n = if n.contains(':') && !n.starts_with('[') {
                format!("[{n}]")
            } else {
                n
            };
            hosts.push(format!("{n}:{port}"));
            if (tls && port == 443) || (!tls && port == 80) {
                hosts.push(n.clone());
            }
        }
        hosts.sort();
        hosts.dedup();
        let origins = hosts.iter().map(|h| format!("{scheme}://{h}")).collect();
        Guard {
            token,
            hosts,
            origins,
            tls,
            read_only,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(Failures::default()),
        }
    }

    /// The start token (printed in the URL).
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn check_host(&self, host: Option<&str>) -> Result<(), Deny> {
        let h = host.unwrap_or("").to_ascii_lowercase();
        if self.hosts.iter().any(|a| *a == h) {
            Ok(())
        } else {
            Err(Deny::Host(host.unwrap_or("").to_string()))
        }
    }

    /// A state-changing request or a WebSocket must come from a page of
    /// this console: its `Origin` is required and must be ours.
    pub fn check_origin(&self, origin: Option<&str>) -> Result<(), Deny> {
        match origin {
            Some(o) if self.origins.iter().any(|a| a.eq_ignore_ascii_case(o)) => Ok(()),
            o => Err(Deny::Origin(o.unwrap_or("(none)").to_string())),
        }
    }

    /// Exchanges the start token for a new session.
    pub fn login(&self, given: &str, peer: IpAddr, now: Instant) -> Result<SessionInfo, Deny> {
        let mut f = self.failures.lock().unwrap();
        let wait = |(t, n): (Instant, u32), max: u32| -> Option<u64> {
            let left = FAILURE_WINDOW.saturating_sub(now.duration_since(t));
            (n >= max && !left.is_zero()).then(|| left.as_secs().max(1))
        };
        if let Some(w) = f
            .per_ip
            .get(&peer)
            .and_then(|e| wait(*e, MAX_FAILURES))
            .or_else(|| f.all.and_then(|e| wait(e, MAX_FAILURES_ALL)))
        {
            return Err(Deny::RateLimited(w));
        }
        if !ct_eq(given, &self.token) {
            let bump = |e: &mut (Instant, u32)| {
                if now.duration_since(e.0) >= FAILURE_WINDOW {
                    *e = (now, 0);
                }
                e.1 += 1;
            };
            bump(f.per_ip.entry(peer).or_insert((now, 0)));
            bump(f.all.get_or_insert((now, 0)));
            // Bound the table: forget windows that are over.
            if f.per_ip.len() > 4096 {
                f.per_ip
                    .retain(|_, e| now.duration_since(e.0) < FAILURE_WINDOW);
            }
            return Err(Deny::BadToken);
        }
        drop(f);
        let s = SessionInfo {
            id: random_hex(32),
            csrf: random_hex(32),
        };
        let mut sessions = self.sessions.lock().unwrap();
        sessions.retain(|_, v| now.duration_since(v.seen) < IDLE);
        sessions.insert(
            s.id.clone(),
            SessionState {
                csrf: s.csrf.clone(),
                seen: now,
            },
        );
        Ok(s)
    }

    /// The session named by a `Cookie` header, if it is live.
    pub fn session(&self, cookie_header: Option<&str>, now: Instant) -> Result<SessionInfo, Deny> {
        let id = cookie_header
            .into_iter()
            .flat_map(|h| h.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v.trim())
            .ok_or(Deny::NoSession)?;
        let mut sessions = self.sessions.lock().unwrap();
        // Look up by constant-time comparison of every key: the id is the secret.
        let key = sessions
            .keys()
            .find(|k| ct_eq(k, id))
            .cloned()
            .ok_or(Deny::NoSession)?;
        let st = sessions.get_mut(&key).expect("key just found");
        if now.duration_since(st.seen) >= IDLE {
            sessions.remove(&key);
            return Err(Deny::NoSession);
        }
        st.seen = now;
        Ok(SessionInfo {
            id: key,
            csrf: st.csrf.clone(),
        })
    }

    pub fn check_csrf(&self, s: &SessionInfo, given: Option<&str>) -> Result<(), Deny> {
        match given {
            Some(g) if ct_eq(g, &s.csrf) => Ok(()),
            _ => Err(Deny::Csrf),
        }
    }

    /// The `Set-Cookie` value for a new session.
    pub fn cookie(&self, s: &SessionInfo) -> String {
        format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{}",
            s.id,
            if self.tls { "; Secure" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(
            "t0ken".into(),
            &["127.0.0.1".into(), "localhost".into(), "::1".into()],
            7878,
            false,
            false,
        )
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn host_header_must_name_the_console() {
        let g = guard();
        for ok in [
            "127.0.0.1:7878",
            "localhost:7878",
            "LOCALHOST:7878",
            "[::1]:7878",
        ] {
            assert_eq!(g.check_host(Some(ok)), Ok(()), "{ok}");
        }
        for bad in [
            "evil.example:7878",
            "127.0.0.1:80",
            "127.0.0.1",
            "",
            "localhost:78789",
        ] {
            assert!(
                matches!(g.check_host(Some(bad)), Err(Deny::Host(_))),
                "{bad}"
            );
        }
        assert!(g.check_host(None).is_err());
    }

    #[test]
    fn origin_is_required_and_must_be_ours() {
        let g = guard();
        assert_eq!(g.check_origin(Some("http://127.0.0.1:7878")), Ok(()));
        assert!(
            g.check_origin(Some("https://127.0.0.1:7878")).is_err(),
            "scheme counts"
        );
        assert!(g.check_origin(Some("http://evil.example")).is_err());
        assert!(g.check_origin(Some("null")).is_err());
        assert!(g.check_origin(None).is_err());
    }

    #[test]
    fn token_gives_a_session_with_a_cookie_and_csrf() {
        let g = guard();
        let now = Instant::now();
        let s = g.login("t0ken", IP, now).unwrap();
        assert_eq!(s.id.len(), 64);
        assert_ne!(s.id, s.csrf);
        let c = g.cookie(&s);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        let hdr = format!("other=1; {COOKIE}={}", s.id);
        assert_eq!(g.session(Some(&hdr), now).unwrap(), s);
        assert_eq!(
            g.session(Some("tplab_session=nope"), now),
            Err(Deny::NoSession)
        );
        assert_eq!(g.session(None, now), Err(Deny::NoSession));
        assert_eq!(g.check_csrf(&s, Some(&s.csrf)), Ok(()));
        assert_eq!(g.check_csrf(&s, Some("x")), Err(Deny::Csrf));
        assert_eq!(g.check_csrf(&s, None), Err(Deny::Csrf));
        // Idle sessions end.
        assert_eq!(g.session(Some(&hdr), now + IDLE), Err(Deny::NoSession));
    }

    #[test]
    fn wrong_tokens_are_rate_limited_per_address() {
        let g = guard();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(g.login("guess", IP, now), Err(Deny::BadToken));
        }
        // Even the right token waits now: no oracle for the guesser.
        assert!(matches!(
            g.login("t0ken", IP, now),
            Err(Deny::RateLimited(60))
        ));
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(
            g.login("t0ken", other, now).is_ok(),
            "another address is not blocked"
        );
        assert!(
            g.login("t0ken", IP, now + FAILURE_WINDOW).is_ok(),
            "the window ends"
        );
    }

    #[test]
    fn tls_cookies_are_secure() {
        let g = Guard::new("t".into(), &["127.0.0.1".into()], 443, true, false);
        assert_eq!(g.check_host(Some("127.0.0.1")), Ok(()));
        assert_eq!(g.check_origin(Some("https://127.0.0.1")), Ok(()));
        let s = g.login("t", IP, Instant::now()).unwrap();
        assert!(g.cookie(&s).ends_with("; Secure"));
    }
}
