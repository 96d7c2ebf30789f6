//! The TLS hello parsers: a ClientHello (and ServerHello) body on its own,
//! and the record reader that reassembles the first handshake message
//! across records, fed in two pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tplab::sniff::proto::tls::{self, HelloReader};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = tls::parse_client_hello(data) {
        let _ = tls::version_name(h.max_version());
    }
    let _ = tls::parse_server_hello(data);
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    let mut r = HelloReader::default();
    let mut buf = data[..cut].to_vec();
    let mut got = r.feed(&mut buf);
    if matches!(got, Ok(None)) {
        buf.extend_from_slice(&data[cut..]);
        got = r.feed(&mut buf);
    }
    if let Ok(Some((typ, body))) = got {
        assert!(body.len() <= 65536);
        if typ == 1 {
            let _ = tls::parse_client_hello(&body);
        }
    }
});
