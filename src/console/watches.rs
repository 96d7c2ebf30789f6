//! URLs polled live (the lab's `heure.php` during a suspend or a
//! migration): `tpvirt watch`'s loop on a thread, each probe pushed to the
//! pages, the final report too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{publish, Bus};
use crate::virt::watch::{parse_url, watch, Probe, WatchConfig};

/// At most this many watches at once (each is a thread sending requests).
pub const MAX_WATCHES: usize = 8;
/// The fastest polling the page may ask for.
pub const MIN_EVERY: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Deserialize)]
pub struct WatchRequest {
    pub url: String,
    /// Milliseconds between requests.
    #[serde(default = "default_every")]
    pub every_ms: u64,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Stop by itself after this long (default: ten minutes).
    #[serde(default = "default_duration")]
    pub duration_s: u64,
}

fn default_every() -> u64 {
    100
}
fn default_timeout() -> u64 {
    1000
}
fn default_duration() -> u64 {
    600
}

/// One probe, as pushed.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub id: u64,
    pub t_ms: f64,
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Default)]
pub struct Watches {
    next: AtomicU64,
    running: Mutex<HashMap<u64, (String, Arc<AtomicBool>)>>,
}

impl Watches {
    /// Starts polling; returns the watch's id.
    pub fn start(self: &Arc<Self>, req: WatchRequest, bus: Bus) -> Result<u64, String> {
        parse_url(&req.url).map_err(|e| e.to_string())?;
        let mut running = self.running.lock().unwrap();
        if running.len() >= MAX_WATCHES {
            return Err(format!("{MAX_WATCHES} watches already run; stop one first"));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let stop = Arc::new(AtomicBool::new(false));
        running.insert(id, (req.url.clone(), Arc::clone(&stop)));
        drop(running);
        let cfg = WatchConfig {
            url: req.url,
            every: Duration::from_millis(req.every_ms).max(MIN_EVERY),
            timeout: Duration::from_millis(req.timeout_ms.clamp(10, 30_000)),
            duration: Some(Duration::from_secs(req.duration_s.clamp(1, 24 * 3600))),
            count: None,
        };
        let me = Arc::clone(self);
        std::thread::spawn(move || {
            let b2 = bus.clone();
            let report = watch(&cfg, &stop, |at, p, lat| {
                let (ok, status, error) = match p {
                    Probe::Status(c) => ((200..400).contains(c), Some(*c), None),
                    Probe::Failed(e) => (false, None, Some(e.clone())),
                };
                let s = Sample {
                    id,
                    t_ms: at.as_secs_f64() * 1e3,
                    ok,
                    status,
                    latency_ms: lat.as_secs_f64() * 1e3,
                    error,
                };
                publish(&b2, "watch", &s);
            });
            me.running.lock().unwrap().remove(&id);
            match report {
                Ok(r) => publish(
                    &bus,
                    "watch-end",
                    &serde_json::json!({ "id": id, "report": r }),
                ),
                Err(e) => publish(
                    &bus,
                    "watch-end",
                    &serde_json::json!({ "id": id, "error": e.to_string() }),
                ),
            }
        });
        Ok(id)
    }

    /// Asks a watch to stop; false when there is none with that id.
    pub fn stop(&self, id: u64) -> bool {
        match self.running.lock().unwrap().get(&id) {
            Some((_, s)) => {
                s.store(true, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    pub fn list(&self) -> Vec<(u64, String)> {
        let mut v: Vec<_> = self
            .running
            .lock()
            .unwrap()
            .iter()
            .map(|(k, (u, _))| (*k, u.clone()))
            .collect();
        v.sort();
        v
    }
}
