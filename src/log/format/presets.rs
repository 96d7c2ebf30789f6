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
