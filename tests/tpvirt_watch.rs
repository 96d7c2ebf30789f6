//! `watch`: only ever talks to a server this test starts on 127.0.0.1.
//! The server can "freeze" (stop answering, like a suspended guest) so the
//! longest gap must show it.

// These run the tpvirt binary or the libvirt bindings: feature "libvirt".
#![cfg(feature = "libvirt")]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tplab::virt::watch::{watch, WatchConfig};

struct Server {
    port: u16,
    frozen: Arc<AtomicBool>,
    status: Arc<AtomicU64>,
}

fn server() -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let frozen = Arc::new(AtomicBool::new(false));
    let status = Arc::new(AtomicU64::new(200));
    let (f, st) = (Arc::clone(&frozen), Arc::clone(&status));
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            while f.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut buf = [0u8; 1024];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            assert!(
                head.starts_with(b"GET /heure.php HTTP/1.1\r\n"),
                "{}",
                String::from_utf8_lossy(&head)
            );
            let code = st.load(Ordering::SeqCst);
            let _ = write!(
                c,
                "HTTP/1.1 {code} X\r\nContent-Length: 8\r\nConnection: close\r\n\r\n12:00:00"
            );
        }
    });
    Server {
        port,
        frozen,
        status,
    }
}

#[test]
fn a_freeze_shows_as_the_longest_gap() {
    let srv = server();
    let cfg = WatchConfig {
        url: format!("http://127.0.0.1:{}/heure.php", srv.port),
        every: Duration::from_millis(10),
        timeout: Duration::from_secs(3),
        duration: Some(Duration::from_millis(1500)),
        count: None,
    };
    let frozen = Arc::clone(&srv.frozen);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        frozen.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(500));
        frozen.store(false, Ordering::SeqCst);
    });
    let stop = AtomicBool::new(false);
    let r = watch(&cfg, &stop, |_, _, _| {}).unwrap();
    t.join().unwrap();
    assert_eq!(r.failed, 0, "{r:?}");
    assert!(r.ok >= 20, "{r:?}");
    assert!(
        r.longest_gap_ms >= 480.0 && r.longest_gap_ms < 1100.0,
        "gap {:?}",
        r.longest_gap_ms
    );
    assert!(
        r.longest_gap_at_ms >= 300.0 && r.longest_gap_at_ms < 700.0,
        "gap at {:?}",
        r.longest_gap_at_ms
    );
    // The one request held during the freeze is the slowest.
    assert!(r.latency_us.max >= 400_000, "{:?}", r.latency_us);
    assert!(r.latency_us.p50 < 100_000, "{:?}", r.latency_us);
    assert!(
        r.latency_us.p50 <= r.latency_us.p90
            && r.latency_us.p90 <= r.latency_us.p99
            && r.latency_us.p99 <= r.latency_us.max
    );
}

#[test]
fn error_statuses_and_refused_connections_are_failures() {
    let srv = server();
    srv.status.store(503, Ordering::SeqCst);
    let cfg = WatchConfig {
        url: format!("http://127.0.0.1:{}/heure.php", srv.port),
        every: Duration::from_millis(1),
        timeout: Duration::from_secs(2),
        duration: None,
        count: Some(5),
    };
    let r = watch(&cfg, &AtomicBool::new(false), |_, _, _| {}).unwrap();
    assert_eq!((r.requests, r.ok, r.failed), (5, 0, 5));
    assert_eq!(r.last_error.as_deref(), Some("HTTP status 503"));
    // A port nobody listens on (bound then released, on loopback).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = WatchConfig {
        url: format!("http://127.0.0.1:{port}/"),
        count: Some(3),
        ..cfg
    };
    let r = watch(&cfg, &AtomicBool::new(false), |_, _, _| {}).unwrap();
    assert_eq!((r.ok, r.failed), (0, 3));
    assert!(r.last_error.unwrap().contains("refused"));
}

#[test]
fn the_binary_reports_json_percentiles() {
    let srv = server();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tpvirt"))
        .args([
            "watch",
            &format!("http://127.0.0.1:{}/heure.php", srv.port),
            "--every",
            "2ms",
            "--count",
            "25",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["requests"], 25);
    assert_eq!(v["ok"], 25);
    assert!(v["latency_us"]["p99"].as_u64().unwrap() >= v["latency_us"]["p50"].as_u64().unwrap());
    assert!(v["longest_gap_ms"].as_f64().unwrap() > 0.0);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tpvirt"))
        .args(["watch", "https://127.0.0.1/"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("only plain HTTP"));
}

#[test]
fn ctrl_c_ends_watch_with_the_report() {
    let srv = server();
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tpvirt"))
        .args([
            "watch",
            &format!("http://127.0.0.1:{}/heure.php", srv.port),
            "--every",
            "5ms",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    // SIGINT to the child we started, by its pid.
    let st = std::process::Command::new("kill")
        .args(["-INT", &c.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t = std::time::Instant::now();
    while c.try_wait().unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "watch did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = c.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["ok"].as_u64().unwrap() > 10, "{v}");
    assert!(v["elapsed_ms"].as_f64().unwrap() >= 500.0);
}
