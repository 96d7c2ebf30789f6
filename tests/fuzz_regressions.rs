//! Replays every input under `testdata/fuzz-regressions/TARGET/` through
//! the fuzz target of that name, in plain `cargo test` (no nightly, no
//! libFuzzer): the bodies are the very functions the fuzzers run
//! (`fuzz/src/lib.rs`, included here as a module). A crash a fuzzer found
//! is minimized (`cargo fuzz tmin`), saved there, and stays fixed.

use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
mod targets;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("log_parse_line", targets::log_parse_line::run),
    ("log_args", targets::log_args::run),
    ("log_report", targets::log_report::run),
    ("log_format_compile", targets::log_format_compile::run),
    ("log_format_line", targets::log_format_line::run),
    ("sniff_feed", targets::sniff_feed::run),
    ("http_request", targets::http_request::run),
    ("tls_client_hello", targets::tls_client_hello::run),
    ("tcp_reassembly", targets::tcp_reassembly::run),
    ("ip_fragments", targets::ip_fragments::run),
    ("irc_lines", targets::irc_lines::run),
    ("sip_message", targets::sip_message::run),
    ("qcow2_header", targets::qcow2_header::run),
    ("snmp_message", targets::snmp_message::run),
    ("postgres_auth", targets::postgres_auth::run),
    ("mysql_auth", targets::mysql_auth::run),
    ("vnc_handshake", targets::vnc_handshake::run),
    ("tds_login", targets::tds_login::run),
    ("socks_handshake", targets::socks_handshake::run),
    ("redis_commands", targets::redis_commands::run),
    ("ldap_messages", targets::ldap_messages::run),
    ("mqtt_connect", targets::mqtt_connect::run),
    ("ntlm_message", targets::ntlm_message::run),
    ("digest_line", targets::digest_line::run),
    ("smb_session", targets::smb_session::run),
    ("dcerpc_session", targets::dcerpc_session::run),
    ("radius_packet", targets::radius_packet::run),
    ("kerberos", targets::kerberos::run),
    ("sasl_exchange", targets::sasl_exchange::run),
];

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn every_saved_fuzz_input_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz-regressions");
    let mut failed = Vec::new();
    let mut replayed = 0;
    for (name, run) in TARGETS {
        // The empty input and a few trivial ones, for every target.
        for b in [&b""[..], b"\0", b"\xff\xff\xff\xff\xff\xff\xff\xff"] {
            run(b);
        }
        for f in inputs(&root.join(name)) {
            let data = std::fs::read(&f).unwrap();
            replayed += 1;
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                failed.push(f.display().to_string());
            }
        }
    }
    // Every directory there is a target's.
    for d in std::fs::read_dir(&root).unwrap().flatten() {
        if d.path().is_dir() {
            let n = d.file_name().to_string_lossy().into_owned();
            assert!(TARGETS.iter().any(|(t, _)| *t == n), "no fuzz target {n}");
        }
    }
    println!("replayed {replayed} saved fuzz inputs");
    assert!(failed.is_empty(), "these inputs crash again: {failed:#?}");
}
