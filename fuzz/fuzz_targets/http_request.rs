//! The HTTP request parser: the request head on its own, then the whole
//! client side of a connection (bodies, chunked encoding, pipelining,
//! credentials) fed in two pieces cut where the first two bytes say, and
//! the same bytes as a server's responses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tplab::sniff::proto::http::{
    looks_like_request, parse_request_head, ClientOut, Fields, HttpStream,
};

fuzz_target!(|data: &[u8]| {
    let _ = looks_like_request(data);
    if let Ok(Some((head, used))) = parse_request_head(data) {
        assert!(used <= data.len());
        let _ = head.framing(true);
    }
    let (cut, body) = match data {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]) as usize % (rest.len() + 1), rest),
        _ => (0, data),
    };
    let fields = Fields::default();
    let mut out = ClientOut::default();
    let mut st = HttpStream::default();
    let mut buf = body[..cut].to_vec();
    st.client(&mut buf, 1, &fields, &mut out);
    buf.extend_from_slice(&body[cut..]);
    st.client(&mut buf, 2, &fields, &mut out);
    assert!(buf.len() <= body.len());
    let mut srv = body.to_vec();
    let _ = st.server(&mut srv, 3);
});
