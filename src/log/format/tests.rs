//! Per-directive and per-preset tests, with hostile lines.

use super::*;
use crate::log::time::format_clock;

fn rec<'a>(f: &LogFormat, line: &'a [u8]) -> crate::log::record::Rich<'a> {
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

fn apache(f: &str) -> LogFormat {
    compile_string(f).unwrap_or_else(|e| panic!("{f}: {e}"))
}

const CUSTOM: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D "%{X-Forwarded-For}i""#;

#[test]
fn apache_custom_with_time_taken_and_xff() {
    let f = apache(CUSTOM);
    let line = &[
        &br#"127.0.0.1 - bob [08/Feb/2014:07:05:03 +0100] "GET /truc.html?a=1 HTTP/1.1" 200 - "http://lab/x \"quoted\" y" "Mozilla/5.0 (X11; Linux) \"\" "#[..],
        b"\xc3\xa9\xff\t",
        br#"" 501234 "203.0.113.9, 10.0.0.1""#,
    ]
    .concat();
    let r = rec(&f, line);
    assert_eq!((r.host, r.user, r.bytes), (&b"127.0.0.1"[..], &b"bob"[..], None));
    assert_eq!(r.referer, Some(&br#"http://lab/x \"quoted\" y"#[..]));
    assert_eq!(r.agent, Some(&b"Mozilla/5.0 (X11; Linux) \\\"\\\" \xc3\xa9\xff\t"[..]));
    assert_eq!(r.ext.micros, Some(501_234));
    assert_eq!(r.ext.xff, b"203.0.113.9, 10.0.0.1");
    assert_eq!(&*r.path().unwrap(), b"/truc.html");
    // CR at the end is not part of the last field.
    let mut crlf = line.clone();
    crlf.push(b'\r');
    assert_eq!(rec(&f, &crlf).ext.xff, b"203.0.113.9, 10.0.0.1");
}

#[test]
fn failing_fields_are_named_with_their_column() {
    let f = apache(CUSTOM);
    let ok = r#"127.0.0.1 - - [08/Feb/2014:07:05:03 +0100] "GET / HTTP/1.1" 200 5 "-" "ua" 12 "-""#;
    rec(&f, ok.as_bytes());
    let cases = [
        (ok.replace(" 200 ", " 2x0 "), "expected %>s (status) (column 61)"),
        (ok.replace(" 5 ", " five "), "expected %b (response bytes) (column 65)"),
        (ok.replace(" 12 ", " 1.2.3 "), "expected %D (time taken, µs)"),
        (ok.replace("[08/Feb", "[32/Feb"), "expected %t (time) (column 16)"),
        // The time's closing `] "` is not there: the time field is named.
        (ok.replace("\"GET / HTTP/1.1\"", "GET / HTTP/1.1"), "expected %t (time) (column 16)"),
        (ok[..50].to_string(), "expected %r (request line)"),
        (ok[..ok.len() - 1].to_string(), "expected %{X-Forwarded-For}i (proxy chain)"),
        (format!("{ok} extra"), "expected the end of the line"),
        ("".to_string(), "empty line"),
        ("\tx".to_string(), "expected %h (client host) (column 1)"),
    ];
    for (line, want) in cases {
        let got = bad(&f, line.as_bytes());
        assert!(got.starts_with(want) || got.contains(want), "{line:?}: {got}");
    }
}

#[test]
fn every_apache_directive_compiles_and_unknown_ones_are_named() {
    let all = r#"%a %{c}a %A %B %b %{Foo}C %D %{HOME}e %f %h %H %{Accept}i %k %l %L %m %{note}n %{Content-Type}o %p %{canonical}p %{local}p %{remote}p %P %{tid}P %q %r %R %s %>s %<s %t %{%d/%b/%Y %T}t %{sec}t %{msec}t %{usec}t %{msec_frac}t %{usec_frac}t %{begin:%F}t %{end:%T}t %T %{ms}T %{us}T %{s}T %u %U %v %V %X %I %O %S %{SSL_PROTOCOL}x %{SSL_CIPHER}x %{SSL_CLIENT_S_DN}x %400,501{User-agent}i %!200,304,302{Referer}i %{Trailer}^ti %%"#;
    apache(all);
    for (f, what, col) in [
        ("%h %Z", "%Z", 4),
        ("%h %{x}Q", "%{x}Q", 4),
        ("%{%Q}t", "%Q in %{%Q}t", 1),
        ("%h %{", "", 4),
    ] {
        let e = compile_string(f).unwrap_err();
        match &e {
            FormatError::Unknown { what: w, col: c } => assert_eq!((w.as_str(), *c), (what, col), "{f}"),
            FormatError::Unterminated { col: c } => assert_eq!(*c, col, "{f}"),
            e => panic!("{f}: {e}"),
        }
        assert!(e.to_string().contains(&format!("column {col}")), "{e}");
    }
    assert!(matches!(compile_string("%h%u"), Err(FormatError::Adjacent { .. })));
    assert!(matches!(compile_string("no directives"), Err(FormatError::NotAFormat(_))));
}

#[test]
fn apache_times_ports_ssl_and_path_query() {
    let f = apache(r#"%{sec}t %{msec_frac}t %v:%{canonical}p %a %m %U%q %H %s %{ms}T %{SSL_PROTOCOL}x %{SSL_CIPHER}x"#);
    let r = rec(&f, b"1391843103 450 www.example.org:8443 ::1 GET /a%20b.html?x=1 HTTP/2.0 304 15 TLSv1.3 TLS_AES_256_GCM_SHA384");
    assert_eq!(format_clock(r.time), "08/Feb/2014:07:05:03");
    assert_eq!((r.ext.vhost, r.ext.port, r.host), (&b"www.example.org"[..], Some(8443), &b"::1"[..]));
    let rl = r.request_line().unwrap();
    assert_eq!((rl.method, rl.target, rl.version), (&b"GET"[..], &b"/a%20b.html?x=1"[..], &b"HTTP/2.0"[..]));
    assert_eq!(&*r.path().unwrap(), b"/a b.html");
    assert_eq!((r.status_code(), r.ext.micros), (304, Some(15_000)));
    assert_eq!((r.ext.tls_protocol, r.ext.tls_cipher), (&b"TLSv1.3"[..], &b"TLS_AES_256_GCM_SHA384"[..]));
    // No query: %q is empty.
    assert_eq!(rec(&f, b"1391843103 450 h:80 1.2.3.4 GET /p HTTP/1.1 200 0 - -").request_line().unwrap().target, b"/p");
    let f = apache(r#"[%{%d/%b/%Y:%H:%M:%S %z}t] %{usec}t %h"#);
    let r = rec(&f, b"[08/Feb/2014:07:05:03 +0100] 1391843103450123 h");
    assert_eq!(r.zone, b"+0100");
    assert_eq!(format_clock(r.time), "08/Feb/2014:07:05:03");
    assert_eq!(bad(&f, b"[08/Feb/2014:07:05:03] 1 h"), "expected %{FORMAT}t (time) (column 2)");
}

#[test]
fn status_conditions_write_a_dash() {
    let f = apache(r#"%h %>s "%400,501{User-agent}i" "%!200,304{Referer}i""#);
    let r = rec(&f, br#"1.2.3.4 200 "-" "http://x/""#);
    assert_eq!((r.agent, r.referer), (Some(&b"-"[..]), Some(&b"http://x/"[..])));
}

#[test]
fn proxy_chain_first_and_real_ip() {
    let f = from_arg("xff_combined").unwrap().format;
    let line = br#"10.0.0.2, 10.0.0.1, 85.181.35.98 - - [08/Feb/2014:07:05:03 +0100] "GET / HTTP/1.1" 200 5 "-" "ua""#;
    let r = rec(&f, line);
    assert_eq!(r.host, b"10.0.0.2");
    assert_eq!(r.ext.xff, b"10.0.0.2, 10.0.0.1, 85.181.35.98");
    let real = realip::RealIp::parse("xff", None).unwrap();
    assert_eq!(real.client(r.host, r.ext.xff), b"85.181.35.98");
    let single = br#"203.0.113.5 - - [08/Feb/2014:07:05:03 +0100] "GET / HTTP/1.1" 200 5 "-" "ua""#;
    assert_eq!(rec(&f, single).host, b"203.0.113.5");
}

#[test]
fn nginx_formats_and_escapes() {
    let f = compile_string(r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time urt="$upstream_response_time" host=$host"#).unwrap();
    let line = br#"192.168.1.5 - - [08/Feb/2014:07:05:03 +0100] "GET /q?\x22x\x22 HTTP/1.1" 502 157 "-" "curl\x5C\x22" rt=0.512 urt="0.500, 0.010" host=a.test"#;
    let r = rec(&f, line);
    assert_eq!((r.status_code(), r.bytes, r.ext.micros), (502, Some(157), Some(512_000)));
    assert_eq!((r.ext.vhost, r.agent), (&b"a.test"[..], Some(&br"curl\x5C\x22"[..])));
    // escape=json, a JSON object built by the format.
    let j = compile_string(r#"escape=json {"time":"$time_iso8601","ip":"$remote_addr","req":"$request","status":$status,"bytes":$body_bytes_sent,"rt":$request_time,"ua":"$http_user_agent","xff":"$http_x_forwarded_for"}"#).unwrap();
    let line = br#"{"time":"2014-02-08T07:05:03+01:00","ip":"::1","req":"GET /a\"b HTTP/1.1","status":200,"bytes":5,"rt":0.003,"ua":"x \"y\" \\","xff":"203.0.113.9"}"#;
    let r = rec(&j, line);
    assert_eq!((r.host, r.status_code(), r.ext.micros, r.ext.xff), (&b"::1"[..], 200, Some(3000), &b"203.0.113.9"[..]));
    assert_eq!(r.agent, Some(&br#"x \"y\" \\"#[..]));
    assert_eq!(format_clock(r.time), "08/Feb/2014:07:05:03");
    let e = compile_string("$remote_addr $no_such_var").unwrap_err();
    assert_eq!(e, FormatError::Unknown { what: "$no_such_var".into(), col: 14 });
    let u = compile_string("${remote_addr} $uri?$args $status").unwrap();
    let r = rec(&u, b"1.2.3.4 /p?x=1 200");
    assert_eq!(r.request_line().unwrap().target, b"/p");
    assert_eq!(&*r.path().unwrap(), b"/p");
}

#[test]
fn hostile_lines_never_panic_and_never_leave_the_line() {
    let formats: Vec<LogFormat> = presets::PRESETS.iter().map(|p| p.format().format).chain([apache(CUSTOM)]).collect();
    let base = br#"1.2.3.4 - - [08/Feb/2014:07:05:03 +0100] "GET / HTTP/1.1" 200 5 "-" "ua" 7 "-""#;
    let mut lines: Vec<Vec<u8>> = vec![b"\"".to_vec(), b"\\".to_vec(), b"\t\t\t".to_vec(), b"\r".to_vec(), b"{".to_vec(), b"#Fields:".to_vec(), "é".into()];
    for cut in 0..base.len() {
        lines.push(base[..cut].to_vec());
        let mut t = base.to_vec();
        t[cut] = b'\t';
        lines.push(t.clone());
        t[cut] = 0xff;
        lines.push(t.clone());
        t[cut] = b'"';
        lines.push(t);
    }
    for f in &formats {
        for l in &lines {
            let mut p = f.parser(None);
            if let Ok(Some(r)) = p.parse(l) {
                let inside = |s: &[u8]| s.is_empty() || {
                    let (a, b) = (l.as_ptr() as usize, l.as_ptr() as usize + l.len());
                    let x = s.as_ptr() as usize;
                    (a <= x && x + s.len() <= b) || s == b"-" || s == b"000"
                };
                assert!(inside(r.host) && inside(r.status) && inside(r.ext.xff), "{f:?} {l:?}");
                let _ = (r.path(), r.method(), r.status_code());
            }
        }
    }
}

/// One line of each preset, read by it and chosen for it from a sample.
#[test]
fn every_preset_reads_its_own_lines_and_is_detected() {
    let samples: &[(&str, &str, u16, Option<u64>)] = &[
        ("vhost_combined", "192.168.11.53", 200, None),
        ("combinedio", "192.168.11.53", 200, None),
        ("xff_combined", "10.0.0.2", 200, None),
        ("traefik", "192.168.1.1", 200, Some(15_000)),
        ("alb", "192.168.131.39", 200, Some(1000)),
        ("elb", "192.168.131.39", 200, Some(1048)),
        ("s3", "192.0.2.3", 200, Some(7000)),
        ("squid", "192.168.0.68", 200, Some(120_000)),
        ("caddy", "192.168.0.68", 200, Some(1500)),
    ];
    for &(name, host, status, micros) in samples {
        let line = presets::example(name).unwrap();
        let f = from_arg(name).unwrap();
        assert_eq!(f.name, name);
        let r = rec(&f.format, line.as_bytes());
        assert_eq!((std::str::from_utf8(r.host).unwrap(), r.status_code(), r.ext.micros), (host, status, micros), "{name}");
        assert_eq!(format_clock(r.time), "08/Feb/2014:07:05:03", "{name}");
        assert_eq!(&*r.path().unwrap(), b"/truc.html", "{name}");
        let sample = format!("{line}\n{line}\n");
        assert_eq!(presets::detect(sample.as_bytes()).map(|p| p.name()), Some(name), "{name}");
    }
    let w3c = format!("{}\n", presets::example("w3c").unwrap());
    assert_eq!(presets::detect(w3c.as_bytes()).map(|p| p.name()), Some("w3c"));
    // Every preset but the fast path's has an example, which it reads.
    for p in presets::PRESETS.iter().filter(|p| !p.format().is_fast()) {
        let ex = presets::example(p.name()).unwrap_or_else(|| panic!("{}: no example", p.name()));
        let f = p.format().format;
        let mut parser = f.parser(None);
        let mut read = 0;
        for l in ex.lines() {
            // W3C's header lines are no entries (its #Fields: sets the columns).
            read += matches!(parser.parse(l.as_bytes()), Ok(Some(_))) as usize;
        }
        assert_eq!(read, 1, "{}", p.name());
    }
    let combined = "1.2.3.4 - - [08/Feb/2014:07:05:03 +0100] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\"\n";
    assert_eq!(presets::detect(combined.repeat(3).as_bytes()).map(|p| p.name()), None, "combined stays on the fast path");
    let main = "1.2.3.4 - - [08/Feb/2014:07:05:03 +0100] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\" \"203.0.113.9, 10.0.0.1\"\n";
    assert_eq!(presets::detect(main.repeat(3).as_bytes()).map(|p| p.name()), Some("main"), "nginx main keeps its X-Forwarded-For");
    assert!(from_arg("combined").unwrap().is_fast() && from_arg("common").unwrap().is_fast());
    let v = presets::example("vhost_combined").unwrap().as_bytes();
    let s = suggest(&[v, v]).unwrap();
    assert_eq!(s.name(), "vhost_combined");
}

/// A format of one field and nothing else (found by the fuzzer: the
/// parser computed "the field before the last" as 0 - 1).
#[test]
fn a_single_field_format_reads_or_refuses_without_a_panic() {
    let f = apache("%h");
    let r = f.parser(None).parse(b"192.168.11.53");
    assert!(matches!(r, Ok(_) | Err(_)));
    let f = apache("%{%d/%b/%Y %H}x");
    let _ = f.parser(None).parse(b"x");
}
