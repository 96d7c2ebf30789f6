//! The access-log line parser on arbitrary bytes. Invariant: every field
//! of a parsed record is a slice of the input line (zero copy).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tplab::log::parse_line;

fn inside(line: &[u8], field: &[u8]) -> bool {
    let (a, b) = (line.as_ptr() as usize, line.as_ptr() as usize + line.len());
    let (s, e) = (field.as_ptr() as usize, field.as_ptr() as usize + field.len());
    field.is_empty() || (a <= s && e <= b)
}

fuzz_target!(|line: &[u8]| {
    if let Ok(r) = parse_line(line) {
        for f in [r.host, r.ident, r.user, r.zone, r.request, r.status] {
            assert!(inside(line, f), "field outside the line");
        }
        for f in [r.referer, r.agent].into_iter().flatten() {
            assert!(inside(line, f), "field outside the line");
        }
        let _ = r.request_line();
    }
});
