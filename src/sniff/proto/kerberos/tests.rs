//! The parser on messages built here field by field (DER as MIT and
//! Windows send it); the real-server test checks that hashcat cracks what
//! it writes.

use super::*;

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend([0x81, n as u8]);
    } else {
        v.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

fn ctx(n: u8, inner: Vec<u8>) -> Vec<u8> {
    der(0xa0 | n, &inner)
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    der(SEQUENCE, &parts.concat())
}

fn int(v: i64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let mut i = 0;
    while i < 7 && ((b[i] == 0 && b[i + 1] < 0x80) || (b[i] == 0xff && b[i + 1] >= 0x80)) {
        i += 1;
    }
    der(INTEGER, &b[i..])
}

fn gstr(s: &str) -> Vec<u8> {
    der(GENERAL_STRING, s.as_bytes())
}

fn princ(names: &[&str]) -> Vec<u8> {
    let strings: Vec<Vec<u8>> = names.iter().map(|n| gstr(n)).collect();
    seq(&[ctx(0, int(1)), ctx(1, seq(&strings))])
}

fn encdata(etype: i64, cipher: &[u8]) -> Vec<u8> {
    seq(&[ctx(0, int(etype)), ctx(2, der(OCTETS, cipher))])
}

fn cipher(n: usize) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}

/// An AS-REQ from alice@TEST.LAB, with a PA-ENC-TIMESTAMP when given.
fn as_req(stamp: Option<(i64, &[u8])>) -> Vec<u8> {
    let body = seq(&[
        ctx(0, der(3, &[0, 0x50, 0, 0, 0])),
        ctx(1, princ(&["alice"])),
        ctx(2, gstr("TEST.LAB")),
        ctx(3, princ(&["krbtgt", "TEST.LAB"])),
        ctx(7, int(12345)),
        ctx(8, seq(&[int(18), int(23)])),
    ]);
    let mut fields = vec![ctx(1, int(5)), ctx(2, int(10))];
    if let Some((e, c)) = stamp {
        let pa = seq(&[ctx(1, int(2)), ctx(2, der(OCTETS, &encdata(e, c)))]);
        let other = seq(&[ctx(1, int(149)), ctx(2, der(OCTETS, b""))]);
        fields.push(ctx(3, seq(&[other, pa])));
    }
    fields.push(ctx(4, body));
    der(0x6a, &seq(&fields))
}

/// An AS-REP (tag 0x6b, type 11) or TGS-REP (0x6d, 13) to alice.
fn rep(tgs: bool, sname: &[&str], ticket: (i64, &[u8]), part: (i64, &[u8])) -> Vec<u8> {
    let t = der(
        TICKET,
        &seq(&[
            ctx(0, int(5)),
            ctx(1, gstr("TEST.LAB")),
            ctx(2, princ(sname)),
            ctx(3, encdata(ticket.0, ticket.1)),
        ]),
    );
    let (tag, mt) = if tgs { (0x6d, 13) } else { (0x6b, 11) };
    der(
        tag,
        &seq(&[
            ctx(0, int(5)),
            ctx(1, int(mt)),
            ctx(3, gstr("TEST.LAB")),
            ctx(4, princ(&["alice"])),
            ctx(5, t),
            ctx(6, encdata(part.0, part.1)),
        ]),
    )
}

fn hit(m: &[u8]) -> Hit {
    parse(m).unwrap().hit.expect("a hit")
}

#[test]
fn as_req_pre_auth_lines() {
    let c = cipher(52);
    let h = hit(&as_req(Some((23, &c))));
    assert_eq!(h.proto, Proto::Kerberos);
    assert_eq!(h.user.as_deref(), Some(&b"alice@TEST.LAB"[..]));
    assert_eq!(h.password, None);
    assert_eq!(
        h.detail.as_deref(),
        Some("AS-REQ pre-auth, etype 23 (rc4-hmac)")
    );
    let hash = h.hash.unwrap();
    assert_eq!(hash.mode, Some(7500));
    // The 36 encrypted bytes first, then the 16-byte checksum.
    assert_eq!(
        hash.line,
        format!(
            "$krb5pa$23$alice$TEST.LAB$TEST.LABalice${}{}",
            hex(&c[16..]),
            hex(&c[..16])
        )
    );
    let c = cipher(56);
    let h = hit(&as_req(Some((18, &c))));
    assert_eq!(
        h.detail.as_deref(),
        Some("AS-REQ pre-auth, etype 18 (aes256-cts-hmac-sha1-96)")
    );
    let hash = h.hash.unwrap();
    assert_eq!(hash.mode, Some(19900));
    assert_eq!(hash.line, format!("$krb5pa$18$alice$TEST.LAB${}", hex(&c)));
    assert_eq!(
        hit(&as_req(Some((17, &c[..54])))).hash.unwrap().mode,
        Some(19800)
    );
    // A timestamp hashcat cannot take: the user all the same.
    let h = hit(&as_req(Some((23, &c[..51]))));
    assert_eq!(h.hash, None);
    assert_eq!(
        h.detail.as_deref(),
        Some("AS-REQ pre-auth, etype 23 (rc4-hmac), no hashcat line for a 51-byte cipher")
    );
    assert_eq!(hit(&as_req(Some((20, &c)))).hash, None);
    // Without pre-authentication: nothing to report.
    let m = parse(&as_req(None)).unwrap();
    assert_eq!((m.kind, m.hit), (MsgType::AsReq, None));
    assert!(m.kind.is_request());
}

#[test]
fn as_rep_and_tgs_rep_lines() {
    let (t, p) = (cipher(200), cipher(180));
    let h = hit(&rep(false, &["krbtgt", "TEST.LAB"], (18, &t), (23, &p)));
    assert_eq!(h.user.as_deref(), Some(&b"alice@TEST.LAB"[..]));
    assert_eq!(h.detail.as_deref(), Some("AS-REP, etype 23 (rc4-hmac)"));
    let hash = h.hash.unwrap();
    assert_eq!(hash.mode, Some(18200));
    assert_eq!(hash.john, Some("krb5asrep"), "John reads the same line");
    assert_eq!(
        hash.line,
        format!(
            "$krb5asrep$23$alice@TEST.LAB:{}${}",
            hex(&p[..16]),
            hex(&p[16..])
        )
    );
    let h = hit(&rep(false, &["krbtgt", "TEST.LAB"], (18, &t), (18, &p)));
    assert_eq!(h.hash, None, "no AES AS-REP mode in hashcat 6.2.6");
    assert_eq!(
        h.detail.as_deref(),
        Some("AS-REP, etype 18 (aes256-cts-hmac-sha1-96)")
    );

    let h = hit(&rep(true, &["svc"], (23, &t), (18, &p)));
    assert_eq!(h.user.as_deref(), Some(&b"svc@TEST.LAB"[..]));
    assert_eq!(
        h.detail.as_deref(),
        Some("TGS-REP ticket for alice@TEST.LAB, etype 23 (rc4-hmac)")
    );
    let hash = h.hash.unwrap();
    assert_eq!(hash.mode, Some(13100));
    assert_eq!(
        hash.line,
        format!(
            "$krb5tgs$23$*svc$TEST.LAB$svc*${}${}",
            hex(&t[..16]),
            hex(&t[16..])
        )
    );
    let h = hit(&rep(true, &["HTTP", "web.test.lab"], (18, &t), (18, &p)));
    assert_eq!(h.user.as_deref(), Some(&b"HTTP/web.test.lab@TEST.LAB"[..]));
    let hash = h.hash.unwrap();
    assert_eq!(hash.mode, Some(19700));
    // The user is the components run together: with the realm, MIT's salt.
    assert_eq!(
        hash.line,
        format!(
            "$krb5tgs$18$HTTPweb.test.lab$TEST.LAB${}${}",
            hex(&t[188..]),
            hex(&t[..188])
        )
    );
    assert_eq!(
        hit(&rep(true, &["svc"], (17, &t), (18, &p)))
            .hash
            .unwrap()
            .mode,
        Some(19600)
    );
    // A ticket for krbtgt (a renewal, a referral): its key is random.
    assert_eq!(
        hit(&rep(true, &["krbtgt", "TEST.LAB"], (23, &t), (18, &p))).hash,
        None
    );
}

#[test]
fn malformed_messages_are_errors() {
    let c = cipher(52);
    let good = [
        as_req(Some((23, &c))),
        rep(false, &["krbtgt", "TEST.LAB"], (18, &c), (23, &c)),
        rep(true, &["svc"], (23, &c), (18, &c)),
    ];
    for m in &good {
        assert!(looks_like(m));
        let mut rec = (m.len() as u32).to_be_bytes().to_vec();
        rec.extend(m);
        assert!(looks_like_record(&rec));
        for cut in 0..m.len() {
            assert!(parse(&m[..cut]).is_err(), "cut at {cut}");
        }
    }
    assert_eq!(parse(b"\x30\x00").unwrap_err(), KrbError::NotMessage(0x30));
    let mut v4 = good[0].clone();
    let at = v4.windows(5).position(|w| w == [0xa1, 3, 2, 1, 5]).unwrap();
    v4[at + 4] = 4;
    assert_eq!(parse(&v4).unwrap_err(), KrbError::Version(4));
    let mut mt = good[0].clone();
    mt[at + 9] = 11;
    assert_eq!(parse(&mt).unwrap_err(), KrbError::MsgType(11));
    let no_body = der(0x6a, &seq(&[ctx(1, int(5)), ctx(2, int(10))]));
    assert_eq!(parse(&no_body).unwrap_err(), KrbError::Missing("req-body"));
    assert!(!looks_like(b"\x6a\x05\x30\x03\x02\x01\x05"));
    assert!(!looks_like(b"GET / HTTP/1.1\r\n"));
    assert!(!looks_like_record(b"\x80\0\0\x10\x6a"));
}

#[test]
fn tcp_records_split_anywhere_and_errors_stop_the_direction() {
    let c = cipher(52);
    let mut stream = Vec::new();
    for m in [as_req(None), as_req(Some((23, &c))), as_req(Some((18, &c)))] {
        stream.extend((m.len() as u32).to_be_bytes());
        stream.extend(m);
    }
    for split in 0..stream.len() {
        let (mut half, mut buf, mut hits) = (TcpHalf::default(), Vec::new(), Vec::new());
        for piece in [&stream[..split], &stream[split..]] {
            buf.extend_from_slice(piece);
            half.feed(&mut buf, &mut hits).unwrap();
        }
        assert!(buf.is_empty());
        let modes: Vec<Option<u32>> = hits.iter().map(|h| h.hash.as_ref().unwrap().mode).collect();
        assert_eq!(modes, [Some(7500), Some(19900)], "split at {split}");
    }
    // An oversized record is skipped, the next one read.
    let (mut half, mut hits) = (TcpHalf::default(), Vec::new());
    let mut buf = ((MAX_MESSAGE + 1) as u32).to_be_bytes().to_vec();
    buf.extend(vec![0; 1000]);
    assert_eq!(half.feed(&mut buf, &mut hits), Err(KrbError::TooLarge));
    buf.extend(vec![0; MAX_MESSAGE + 1 - 1000]);
    buf.extend(&stream);
    half.feed(&mut buf, &mut hits).unwrap();
    assert_eq!(hits.len(), 2);
    // The reserved bit, garbage, a gap: the rest of the direction dropped.
    let mut buf = b"\x80\0\0\x01x".to_vec();
    assert_eq!(half.feed(&mut buf, &mut hits), Err(KrbError::Reserved));
    buf.extend(&stream);
    half.feed(&mut buf, &mut hits).unwrap();
    assert!(buf.is_empty() && hits.len() == 2);
    let mut half = TcpHalf::default();
    let mut buf = b"\0\0\0\x02\x30\0".to_vec();
    assert_eq!(
        half.feed(&mut buf, &mut hits),
        Err(KrbError::NotMessage(0x30))
    );
    let mut half = TcpHalf::default();
    half.gap();
    let mut buf = stream.clone();
    half.feed(&mut buf, &mut hits).unwrap();
    assert!(buf.is_empty() && hits.len() == 2);
}
