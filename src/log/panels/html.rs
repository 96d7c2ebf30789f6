//! The report as one self-contained HTML file: styles, script and data
//! inline, nothing fetched when it is opened. A Content-Security-Policy
//! allows only the page's own script and style (by their SHA-256), so
//! nothing from the log can run even if it ever reached the markup; the
//! data sits in a JSON block whose `<` are escaped, so a `</script>` in a
//! user agent stays text.

use std::io::{self, Write};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::model::Report;

const SCRIPT: &str = include_str!("page/report.js");
const STYLE: &str = include_str!("page/report.css");

fn csp_hash(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(d))
}

/// The policy the page carries: its own script and style, images only as
/// data: URLs, and for a live report the server it came from.
pub fn csp(live: bool) -> String {
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src data:; connect-src {}; base-uri 'none'; form-action 'none'",
        csp_hash(SCRIPT),
        csp_hash(STYLE),
        if live { "'self'" } else { "'none'" }
    )
}

/// The data as JSON safe inside a `<script>` element.
pub fn json_for_script(r: &Report) -> String {
    let j = serde_json::to_string(r).expect("the report serialises");
    // `<`, `>` and `&` appear only inside JSON strings: their escapes read back the same.
    j.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// Writes the whole page.
pub fn write_page(w: &mut dyn Write, r: &Report) -> io::Result<()> {
    let title = match r.files.as_slice() {
        [one] => format!("tplog report: {}", one.name),
        _ => format!("tplog report: {} files", r.files.len()),
    };
    page(w, &json_for_script(r), r.live, &title)
}

/// The page around data already made safe by [`json_for_script`] (the
/// live server keeps its latest report in that form).
pub fn write_page_json(w: &mut dyn Write, json: &str, live: bool) -> io::Result<()> {
    page(w, json, live, "tplog report (live)")
}

fn page(w: &mut dyn Write, json: &str, live: bool, title: &str) -> io::Result<()> {
    write!(
        w,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <div id=\"app\"><noscript>This report draws its panels with JavaScript; \
         tplog report --format json gives the same data.</noscript></div>\n\
         <script type=\"application/json\" id=\"report-data\">{json}</script>\n\
         <script>{SCRIPT}</script>\n</body>\n</html>\n",
        csp = csp(live),
        title = escape_html(title),
    )
}

/// For the one log-derived string in the markup itself (the title).
fn escape_html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_the_title_and_the_data() {
        assert_eq!(escape_html("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
        let j = serde_json::to_string("</script><b>&").unwrap();
        let safe = j.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
        assert!(!safe.contains('<'));
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "</script><b>&");
    }

    #[test]
    fn the_policy_names_the_page_s_own_script_and_style() {
        let p = csp(false);
        assert!(p.contains(&csp_hash(SCRIPT)) && p.contains(&csp_hash(STYLE)));
        assert!(p.contains("connect-src 'none'"));
        assert!(csp(true).contains("connect-src 'self'"));
    }
}
