//! The named formats (Apache's nicknames, nginx's, GoAccess's list and
//! the cloud load balancers'), and the choice of one from a file's first
//! lines.

use super::{LogFormat, NamedFormat};

/// A preset: its names (the first is the one reported), how it is built.
pub struct Preset {
    pub names: &'static [&'static str],
    pub what: &'static str,
    pub build: Build,
}

pub enum Build {
    Fast,
    Apache(&'static str),
    Nginx(&'static str, Tail),
    Caddy,
    W3c,
}

/// How a preset treats the end of a line.
#[derive(Clone, Copy)]
pub enum Tail {
    Exact,
    /// Later columns are allowed (AWS adds fields over the years).
    Open,
    /// Exact, and a space between fields may be several (squid pads).
    Squeezed,
}

pub const PRESETS: &[Preset] = &[
    Preset { names: &["combined", "nginx", "COMBINED"], what: "Apache/nginx combined (also common and nginx main; the fast path)", build: Build::Fast },
    Preset { names: &["common", "clf", "COMMON"], what: "Common Log Format (the fast path)", build: Build::Fast },
    Preset {
        names: &["vhost_combined", "vcombined", "VCOMBINED"],
        what: "Apache vhost_combined (Debian's other_vhosts_access.log)",
        build: Build::Apache("%v:%p %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\""),
    },
    Preset { names: &["vcommon", "VCOMMON"], what: "common with the virtual host first", build: Build::Apache("%v %h %l %u %t \"%r\" %>s %b") },
    Preset {
        names: &["combinedio"],
        what: "Apache combinedio (combined + bytes received and sent)",
        build: Build::Apache("%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\" %I %O"),
    },
    Preset {
        names: &["main"],
        what: "nginx main (combined + X-Forwarded-For)",
        build: Build::Nginx("$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" \"$http_x_forwarded_for\"", Tail::Exact),
    },
    Preset {
        names: &["xff_combined"],
        what: "combined with the X-Forwarded-For list as the first field",
        build: Build::Apache("%{X-Forwarded-For}i %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\""),
    },
    Preset { names: &["caddy", "CADDY"], what: "Caddy v2 JSON access log", build: Build::Caddy },
    Preset { names: &["w3c", "iis", "cloudfront", "W3C", "CLOUDFRONT"], what: "W3C extended (IIS, CloudFront): columns from #Fields:", build: Build::W3c },
    Preset {
        names: &["traefik", "TRAEFIKCLF"],
        what: "Traefik CLF access log",
        build: Build::Apache("%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %{requests}e \"%{router}e\" \"%{server}e\" %{ms}Tms"),
    },
    Preset {
        names: &["alb", "AWSALB"],
        what: "AWS Application Load Balancer",
        build: Build::Nginx("$tplab_skip $time_iso8601 $tplab_skip $tplab_client_port $tplab_skip $tplab_skip $request_time $tplab_skip $status $tplab_skip $request_length $body_bytes_sent \"$request\" \"$http_user_agent\" $ssl_cipher $ssl_protocol", Tail::Open),
    },
    Preset {
        names: &["elb", "AWSELB"],
        what: "AWS Classic Load Balancer",
        build: Build::Nginx("$time_iso8601 $tplab_skip $tplab_client_port $tplab_skip $tplab_skip $request_time $tplab_skip $status $tplab_skip $request_length $body_bytes_sent \"$request\" \"$http_user_agent\" $ssl_cipher $ssl_protocol", Tail::Open),
    },
    Preset {
        names: &["s3", "AWSS3"],
        what: "AWS S3 server access log",
        build: Build::Nginx("$tplab_skip $tplab_skip [$time_local] $remote_addr $tplab_skip $tplab_skip $tplab_skip $tplab_skip \"$request\" $status $tplab_skip $body_bytes_sent $tplab_skip $tplab_ms $tplab_skip \"$http_referer\" \"$http_user_agent\"", Tail::Open),
    },
    Preset {
        names: &["squid", "SQUID"],
        what: "Squid native access.log",
        build: Build::Nginx("$msec $tplab_ms $remote_addr $tplab_skip/$status $body_bytes_sent $request_method $request_uri $remote_user $tplab_skip $tplab_skip", Tail::Squeezed),
    },
];

/// A line as each preset's server writes it (for W3C, its header lines
/// first), for tests, benchmarks and readers of the presets' docs.
pub const EXAMPLES: &[(&str, &str)] = &[
    ("vhost_combined", r#"www.example.org:80 192.168.11.53 - - [08/Feb/2014:07:05:03 +0100] "GET /truc.html HTTP/1.1" 200 1234 "-" "curl/8""#),
    ("combinedio", r#"192.168.11.53 - - [08/Feb/2014:07:05:03 +0100] "GET /truc.html HTTP/1.1" 200 1234 "-" "curl/8" 120 1500"#),
    ("xff_combined", r#"10.0.0.2, 85.181.35.98 - - [08/Feb/2014:07:05:03 +0100] "GET /truc.html HTTP/1.1" 200 1234 "-" "curl/8""#),
    ("traefik", r#"192.168.1.1 - - [08/Feb/2014:07:05:03 +0000] "GET /truc.html HTTP/1.1" 200 1234 "-" "curl/8" 42 "router@docker" "http://10.0.0.5:80" 15ms"#),
    ("alb", r#"https 2014-02-08T07:05:03.186641Z app/my-lb/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET https://www.example.com:443/truc.html?x=1 HTTP/1.1" "curl/7.46.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/1234" 1 2014-02-08T07:05:03.185000Z "authenticate,forward" "-" "-" "10.0.0.1:80" "200" "-" "-""#),
    ("elb", r#"2014-02-08T07:05:03.508356Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 29 "GET http://www.example.com:80/truc.html HTTP/1.1" "curl/7.38.0" - -"#),
    ("s3", r#"79a59df900b949e5 awsexamplebucket1 [08/Feb/2014:07:05:03 +0000] 192.0.2.3 79a59df900b949e5 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /truc.html?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.2"#),
    ("squid", "1391843103.450    120 192.168.0.68 TCP_MISS/200 507 GET http://www.example.com/truc.html - DIRECT/72.14.221.99 text/html"),
    ("caddy", r#"{"level":"info","ts":1391843103.45,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"192.168.0.68","remote_port":"5000","proto":"HTTP/1.1","method":"GET","host":"a.test","uri":"/truc.html","headers":{"User-Agent":["curl/8"]}},"duration":0.0015,"size":5,"status":200}"#),
    ("vcommon", r#"www.example.org 192.168.11.53 - - [08/Feb/2014:07:05:03 +0100] "GET /truc.html HTTP/1.1" 200 1234"#),
    ("main", r#"192.168.11.53 - - [08/Feb/2014:07:05:03 +0100] "GET /truc.html HTTP/1.1" 200 1234 "-" "curl/8" "203.0.113.9, 10.0.0.1""#),
    ("w3c", "#Software: IIS\n#Fields: date time c-ip cs-method cs-uri-stem sc-status time-taken\n2014-02-08 07:05:03 192.168.0.1 GET /truc.html 200 31"),
];

/// The example of a preset (by its first name).
pub fn example(name: &str) -> Option<&'static str> {
    EXAMPLES.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
}

/// The preset of this name (any of its names, case as listed or lower).
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.names.iter().any(|n| *n == name || n.eq_ignore_ascii_case(name)))
}

impl Preset {
    pub fn name(&self) -> &'static str {
        self.names[0]
    }

    pub fn format(&self) -> NamedFormat {
        let format = match &self.build {
            Build::Fast => LogFormat::Fast,
            Build::Apache(f) => super::compile_apache(f, false).expect("preset formats compile"),
            Build::Nginx(f, tail) => super::compile_nginx(f, *tail).expect("preset formats compile"),
            Build::Caddy => LogFormat::Caddy,
            Build::W3c => LogFormat::W3c,
        };
        NamedFormat { name: self.name().to_string(), format }
    }
}

/// How many of the first lines of `sample` each preset reads, best
/// first; the fast path wins ties (it is the default and the fastest).
pub fn rank(sample: &[u8]) -> Vec<(&'static Preset, usize, usize)> {
    let lines: Vec<&[u8]> = sample
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty() && !l.iter().all(|&c| c == 0))
        .take(SAMPLE_LINES)
        .collect();
    // The last piece may be cut by the sample's end.
    let lines = if lines.len() > 1 && !sample.ends_with(b"\n") { &lines[..lines.len() - 1] } else { &lines[..] };
    let mut out: Vec<(&'static Preset, usize, usize)> = Vec::new();
    let mut seen_fast = false;
    for p in PRESETS {
        if matches!(p.build, Build::Fast) {
            if seen_fast {
                continue;
            }
            seen_fast = true;
        }
        let f = p.format();
        let mut parser = f.format.parser(None);
        let mut ok = 0;
        let mut records = 0;
        for l in lines {
            let l = &l[l.iter().position(|&c| c != 0).unwrap_or(0)..];
            match parser.parse(l) {
                Ok(Some(_)) => {
                    ok += 1;
                    records += 1;
                }
                Ok(None) => ok += 1,
                Err(_) => {}
            }
        }
        // A file of only comments is no evidence for W3C.
        if records > 0 {
            out.push((p, ok, lines.len()));
        }
    }
    out.sort_by_key(|&(_, ok, _)| std::cmp::Reverse(ok));
    out
}

/// Lines looked at to choose a format.
pub const SAMPLE_LINES: usize = 32;

/// The preset that reads the most of `sample`'s first lines, when it reads
/// more of them than the fast path does, or as many when the fast path
/// reads them only by skipping trailing fields the preset names (nginx
/// main's X-Forwarded-For, combinedio's byte counts, Traefik's duration).
pub fn detect(sample: &[u8]) -> Option<&'static Preset> {
    let ranked = rank(sample);
    let fast = ranked.iter().find(|(p, _, _)| matches!(p.build, Build::Fast)).map_or(0, |r| r.1);
    let best = ranked.iter().find(|(p, _, _)| !matches!(p.build, Build::Fast))?;
    if best.1 > fast {
        return Some(best.0);
    }
    if best.1 == fast && fast > 0 && trailing_fields(sample) {
        return Some(best.0);
    }
    None
}

/// Most of the first lines are combined lines with more fields after the
/// user agent.
fn trailing_fields(sample: &[u8]) -> bool {
    let (mut more, mut n) = (0, 0);
    for l in sample.split(|&c| c == b'\n').filter(|l| !l.is_empty()).take(SAMPLE_LINES) {
        n += 1;
        if let Ok(r) = crate::log::parse::parse_line(l) {
            if r.agent.is_some() && crate::log::parse::parse_fused(l, 0).is_none() && !l.ends_with(b"\r") {
                more += 1;
            }
        }
    }
    more * 2 > n
}
