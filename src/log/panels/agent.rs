//! Browsers and operating systems from user agents, by uap-core's rules
//! (the ua-parser crate; the rules are data/uap-core/regexes.json). Each
//! distinct agent is classified once, after the scan, never per line.

use std::sync::OnceLock;

use ua_parser::{os, user_agent, Regexes};

const RULES: &str = include_str!("../../../data/uap-core/regexes.json");

struct Rules {
    ua: user_agent::Extractor<'static>,
    os: os::Extractor<'static>,
}

fn rules() -> &'static Rules {
    static R: OnceLock<Rules> = OnceLock::new();
    R.get_or_init(|| {
        // The rules are this crate's own data: a failure is a build defect,
        // caught by the tests below.
        let r: Regexes<'static> = serde_json::from_str(RULES).expect("data/uap-core/regexes.json is valid");
        Rules {
            ua: user_agent::Builder::new()
                .push_all(r.user_agent_parsers)
                .and_then(|b| b.build().map_err(Into::into))
                .expect("uap-core's user-agent rules compile"),
            os: os::Builder::new()
                .push_all(r.os_parsers)
                .map_err(ua_parser::Error::from)
                .and_then(|b| b.build().map_err(Into::into))
                .expect("uap-core's OS rules compile"),
        }
    })
}

/// What an agent is: its browser family (with the major version) and its
/// operating system family. `Other` when no rule matches, as uap-core says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kind {
    pub browser: String,
    pub os: String,
}

/// Classifies one agent as written (escapes and all; lossy UTF-8).
pub fn classify(agent: &[u8]) -> Kind {
    if agent == b"-" || agent.is_empty() {
        return Kind { browser: "(none)".into(), os: "(none)".into() };
    }
    let s = String::from_utf8_lossy(agent);
    let r = rules();
    let browser = r.ua.extract(&s).map_or_else(
        || "Other".to_string(),
        |v| match v.major {
            Some(m) if v.family != "Other" => format!("{} {m}", v.family),
            _ => v.family.into_owned(),
        },
    );
    let os = r.os.extract(&s).map_or_else(|| "Other".to_string(), |v| v.os.into_owned());
    Kind { browser, os }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_browsers_and_systems() {
        let chrome = classify(b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36");
        assert_eq!(chrome, Kind { browser: "Chrome 32".into(), os: "Mac OS X".into() });
        let firefox = classify(b"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0");
        assert_eq!(firefox.browser, "Firefox 120");
        assert_eq!(firefox.os, "Ubuntu");
        let curl = classify(b"curl/7.88.1");
        assert_eq!(curl.browser, "curl 7");
        let bot = classify(b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
        assert_eq!(bot.browser, "Googlebot 2");
        assert_eq!(classify(b"-").browser, "(none)");
        assert_eq!(classify(b"\xff\xfe junk").browser, "Other");
    }
}
