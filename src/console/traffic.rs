//! The Traffic page: tpsniff's engine on the interfaces opened at start.
//! Findings are pushed masked (`--redact`'s form); the cleartext of one is
//! sent only when the user asks for it (a POST with the CSRF token), and
//! only the last [`KEEP`] are held.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::{publish, Bus};
use crate::sniff::report::{json_line, Style};
use crate::sniff::source::{capture_live, LiveSource};
use crate::sniff::{Config, Sniffer};

/// Findings whose cleartext is kept for a reveal.
pub const KEEP: usize = 1000;

#[derive(Default)]
pub struct Traffic {
    kept: Mutex<VecDeque<(u64, Value)>>,
    next: Mutex<u64>,
    pub ifaces: Vec<String>,
}

impl Traffic {
    /// The cleartext finding `id`, if still kept.
    pub fn reveal(&self, id: u64) -> Option<Value> {
        self.kept
            .lock()
            .unwrap()
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v.clone())
    }

    fn record(&self, full: Value) -> u64 {
        let id = {
            let mut n = self.next.lock().unwrap();
            *n += 1;
            *n
        };
        let mut k = self.kept.lock().unwrap();
        if k.len() == KEEP {
            k.pop_front();
        }
        k.push_back((id, full));
        id
    }
}

/// Starts one capture thread per source.
pub fn start(sources: Vec<LiveSource>, bus: Bus) -> Arc<Traffic> {
    let t = Arc::new(Traffic {
        ifaces: sources.iter().map(|s| s.iface().to_string()).collect(),
        ..Traffic::default()
    });
    for mut src in sources {
        let (t, bus) = (Arc::clone(&t), bus.clone());
        std::thread::spawn(move || {
            let iface = src.iface().to_string();
            let mut sniffer = Sniffer::new(Config::default());
            let stop = AtomicBool::new(false);
            let r = capture_live(&mut src, &mut sniffer, &stop, |f| {
                let parse = |b: Vec<u8>| serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null);
                let full = parse(json_line(f, Style { redact: false }));
                let masked = parse(json_line(f, Style { redact: true }));
                let id = t.record(full);
                publish(
                    &bus,
                    "traffic",
                    &json!({ "id": id, "iface": iface, "finding": masked }),
                );
                Ok(())
            });
            let why = match r {
                Ok(()) => "the capture ended".to_string(),
                Err(e) => e.to_string(),
            };
            publish(
                &bus,
                "traffic-end",
                &json!({ "iface": iface, "message": why }),
            );
        });
    }
    t
}
