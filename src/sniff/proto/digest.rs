//! HTTP (and SIP) Digest authentication as a crackable line: hashcat mode
//! 11400's `$sip$` format, which computes
//! `MD5(MD5(user:realm:password):nonce[:nc:cnonce:qop]:MD5(method:uri))`
//! and compares it with the response. Only `algorithm=MD5` (or none) is
//! representable; fields holding the format's separator `*` are not.

use super::http::auth_param;
use super::Crackable;

/// The `$sip$` line of a Digest `Authorization` header's parameters sent
/// with a request of `method`; `None` when a field is missing or cannot be
/// written in the format.
pub fn hashcat_line(method: &[u8], params: &[u8]) -> Option<Crackable> {
    let p = |n: &[u8]| auth_param(params, n);
    if let Some(alg) = p(b"algorithm") {
        if !alg.eq_ignore_ascii_case(b"MD5") {
            return None;
        }
    }
    let user = p(b"username")?;
    let realm = p(b"realm")?;
    let nonce = p(b"nonce")?;
    let uri = p(b"uri")?;
    let response = p(b"response")?;
    let qop = p(b"qop").unwrap_or_default();
    let (nc, cnonce) = if qop.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        (p(b"nc")?, p(b"cnonce")?)
    };
    if response.len() != 32 || !response.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    // hashcat's field limits.
    let fits = user.len() <= 116
        && realm.len() <= 116
        && (1..=246).contains(&method.len())
        && (1..=246).contains(&uri.len())
        && (1..=1024).contains(&nonce.len())
        && cnonce.len() <= 1024
        && nc.len() <= 1024;
    let fields = [&user, &realm, &uri, &nonce, &qop, &nc, &cnonce];
    let clean = fields
        .iter()
        .all(|f| f.iter().all(|&c| c != b'*' && c != b'\n' && c != b'\r'));
    if !fits || !clean || method.contains(&b'*') {
        return None;
    }
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    // The URI goes whole in the resource field: hashcat joins
    // prefix, resource and suffix with ':' and skips empty ones.
    let line = format!(
        "$sip$***{}*{}*{}**{}**{}*{}*{}*{}*MD5*{}",
        s(&user),
        s(&realm),
        s(method),
        s(&uri),
        s(&nonce),
        s(&cnonce),
        s(&nc),
        s(&qop),
        s(&response).to_ascii_lowercase()
    );
    Some(Crackable::hashcat(11400, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_with_qop() {
        // RFC 2617's example ("Circle Of Life").
        let h = hashcat_line(
            b"GET",
            b"username=\"Mufasa\", realm=\"testrealm@host.com\", \
              nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
              qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
              response=\"6629fae49393a05397450978507c4ef1\", \
              opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert_eq!(h.mode, Some(11400));
        assert_eq!(
            h.line,
            "$sip$***Mufasa*testrealm@host.com*GET**/dir/index.html**dcd98b7102dd2f0e8b11d0f600bfb0c093*0a4f113b*00000001*auth*MD5*6629fae49393a05397450978507c4ef1"
        );
    }

    #[test]
    fn unrepresentable_or_incomplete_is_none() {
        let base = "username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"6629fae49393a05397450978507c4ef1\"";
        assert!(hashcat_line(b"GET", base.as_bytes()).is_some());
        let sess = format!("{base}, algorithm=MD5-sess");
        assert!(hashcat_line(b"GET", sess.as_bytes()).is_none());
        let star = base.replace("uri=\"/\"", "uri=\"/a*b\"");
        assert!(hashcat_line(b"GET", star.as_bytes()).is_none());
        let qop = format!("{base}, qop=auth");
        assert!(
            hashcat_line(b"GET", qop.as_bytes()).is_none(),
            "qop without nc/cnonce"
        );
        assert!(hashcat_line(b"GET", b"username=\"u\"").is_none());
    }
}
