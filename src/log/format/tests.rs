//! Per-directive and per-preset tests, with hostile lines.

use super::*;
use crate::log::time::format_clock;

fn rec<'a>(f: &LogFormat, line: &'a [u8]) -> Record<'a> {
    match f.parser(None).parse(line) {
        Ok(Some(r)) => r,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(line)),
    }
}

fn bad(f: &LogFormat, line: &[u8]) -> String {
    match f.parser(None).parse(line) {
        Err(e) => e.to_string(),
        Ok(r) => panic!("{:?} parsed: {r:?}", String::from_utf8_lossy(line)),
    }
}

#[test]
fn vhost_combined_preset() {
    let f = from_arg("vhost_combined").unwrap().format;
    let r = rec(&f, b"www.example.org:443 192.168.11.53 - - [08/Feb/2014:07:05:03 +0100] \"GET /truc.html HTTP/1.1\" 200 1234 \"-\" \"curl/8\"");
    assert_eq!((r.ext.vhost, r.ext.port, r.host), (&b"www.example.org"[..], Some(443), &b"192.168.11.53"[..]));
    assert_eq!(format_clock(r.time), "08/Feb/2014:07:05:03");
    assert_eq!((r.status_code(), r.bytes, r.agent), (200, Some(1234), Some(&b"curl/8"[..])));
}
