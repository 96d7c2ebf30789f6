//! Credentials in HTTP requests: form bodies, query strings and
//! `Authorization`/`Proxy-Authorization` headers.

use std::borrow::Cow;

use super::Head;
use crate::sniff::finding::Proto;
use crate::sniff::proto::{b64, starts_with_ci, Hit};

/// The form and query field names treated as user names and as secrets.
/// Names are compared whole, ASCII case-insensitively, after decoding.
#[derive(Debug, Clone)]
pub struct Fields {
    pub user: Vec<Vec<u8>>,
    pub secret: Vec<Vec<u8>>,
}

impl Default for Fields {
    fn default() -> Self {
        let v = |l: &[&str]| l.iter().map(|s| s.as_bytes().to_vec()).collect();
        Fields {
            user: v(&["user", "username", "login", "email"]),
            secret: v(&["password", "passwd", "pass", "pwd"]),
        }
    }
}

impl Fields {
    /// Adds a field name whose value is reported as the secret.
    pub fn add_secret(&mut self, name: &str) {
        self.secret.push(name.as_bytes().to_vec());
    }
    fn is_user(&self, n: &[u8]) -> bool {
        self.user.iter().any(|u| u.eq_ignore_ascii_case(n))
    }
    fn is_secret(&self, n: &[u8]) -> bool {
        self.secret.iter().any(|u| u.eq_ignore_ascii_case(n))
    }
}

/// `%XX` and `+` decoding of one form or query component.
pub fn url_decode(s: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr2(b'%', b'+', s).is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(s[i + 1]), hex(s[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// Decoded form or query pairs (names and values borrowed where nothing
/// was escaped).
pub type Pair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// `a=1&b=2` → decoded pairs (a name without `=` has an empty value).
pub fn form_pairs(s: &[u8]) -> Vec<Pair<'_>> {
    s.split(|&c| c == b'&' || c == b';')
        .filter(|p| !p.is_empty())
        .map(|p| match memchr::memchr(b'=', p) {
            Some(e) => (url_decode(&p[..e]), url_decode(&p[e + 1..])),
            None => (url_decode(p), Cow::Borrowed(&[][..])),
        })
        .collect()
}

/// A credential among form/query pairs: present when a secret field has a
/// value; the user is the first user field with a value.
pub fn fields_hit(pairs: &[Pair<'_>], fields: &Fields, proto: Proto) -> Option<Hit> {
    let secret = pairs
        .iter()
        .find(|(n, v)| !v.is_empty() && fields.is_secret(n))?;
    let user = pairs
        .iter()
        .find(|(n, v)| !v.is_empty() && fields.is_user(n));
    Some(Hit::new(proto, user.map(|(_, v)| &v[..]), Some(&secret.1)))
}

/// An `Authorization` or `Proxy-Authorization` value → credential.
pub fn authorization_hit(value: &[u8]) -> Option<Hit> {
    let value = value.trim_ascii();
    let sp = value
        .iter()
        .position(|c| c.is_ascii_whitespace())
        .unwrap_or(value.len());
    let (scheme, rest) = (&value[..sp], value[sp..].trim_ascii());
    if scheme.eq_ignore_ascii_case(b"basic") {
        let dec = b64(rest)?;
        return Some(match memchr::memchr(b':', &dec) {
            Some(c) => Hit::new(Proto::HttpBasic, Some(&dec[..c]), Some(&dec[c + 1..])),
            None => Hit::new(Proto::HttpBasic, Some(&dec), None),
        });
    }
    if scheme.eq_ignore_ascii_case(b"digest") {
        let user = auth_param(rest, b"username")?;
        return Some(Hit::new(Proto::HttpDigest, Some(&user), None));
    }
    if scheme.eq_ignore_ascii_case(b"bearer") && !rest.is_empty() {
        return Some(Hit::new(Proto::HttpBearer, None, Some(rest)));
    }
    None
}

/// One parameter of a Digest header: `name="quoted"` or `name=token`.
pub fn auth_param(params: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let mut i = 0;
    while i < params.len() {
        while i < params.len() && (params[i] == b',' || params[i].is_ascii_whitespace()) {
            i += 1;
        }
        let eq = i + memchr::memchr(b'=', &params[i..])?;
        let key = params[i..eq].trim_ascii();
        let mut j = eq + 1;
        while j < params.len() && params[j].is_ascii_whitespace() {
            j += 1;
        }
        let mut val = Vec::new();
        if params.get(j) == Some(&b'"') {
            j += 1;
            while j < params.len() && params[j] != b'"' {
                if params[j] == b'\\' && j + 1 < params.len() {
                    j += 1;
                }
                val.push(params[j]);
                j += 1;
            }
            j += 1;
        } else {
            while j < params.len() && params[j] != b',' {
                val.push(params[j]);
                j += 1;
            }
            val = val.trim_ascii().to_vec();
        }
        if key.eq_ignore_ascii_case(name) {
            return Some(val);
        }
        i = j;
    }
    None
}

/// Credentials visible in a request head (query string and auth headers).
pub fn head_hits(head: &Head, fields: &Fields) -> Vec<Hit> {
    let mut hits = Vec::new();
    if let Some(q) = memchr::memchr(b'?', head.target()) {
        let query = &head.target()[q + 1..];
        let query = query.split(|&c| c == b'#').next().unwrap_or_default();
        hits.extend(fields_hit(&form_pairs(query), fields, Proto::HttpQuery));
    }
    for (name, value) in head.headers() {
        let proxy = name.eq_ignore_ascii_case(b"proxy-authorization");
        if proxy || name.eq_ignore_ascii_case(b"authorization") {
            if let Some(mut h) = authorization_hit(value) {
                if h.proto == Proto::HttpDigest {
                    let params = value.trim_ascii().get(6..).unwrap_or_default();
                    h.hash = crate::sniff::proto::digest::hashcat_line(head.method(), params);
                }
                if proxy {
                    h.detail = Some("proxy".into());
                }
                hits.push(h);
            }
        }
    }
    let place = describe(head);
    for h in &mut hits {
        h.detail = Some(match &h.detail {
            Some(d) => format!("{place} ({d})"),
            None => place.clone(),
        });
    }
    hits
}

/// An NTLM AUTHENTICATE message in a request's `Authorization` or
/// `Proxy-Authorization`, with the connection's last server challenge.
pub fn ntlm_hits(
    head: &Head,
    challenge: Option<[u8; 8]>,
) -> Result<Vec<Hit>, crate::sniff::proto::ntlm::NtlmError> {
    use crate::sniff::proto::ntlm;
    let mut hits = Vec::new();
    for (name, value) in head.headers() {
        let proxy = name.eq_ignore_ascii_case(b"proxy-authorization");
        if !proxy && !name.eq_ignore_ascii_case(b"authorization") {
            continue;
        }
        let Some(msg) = ntlm::from_header(value) else {
            continue;
        };
        if let Some(mut h) = ntlm::authenticate(Proto::HttpNtlm, &msg, challenge)? {
            let what = h.detail.take().unwrap_or_default();
            let proxy = if proxy { " (proxy)" } else { "" };
            h.detail = Some(format!("{}{proxy}: {what}", describe(head)));
            hits.push(h);
        }
    }
    Ok(hits)
}

/// The challenge of an NTLM CHALLENGE message in a 401/407 response.
pub fn ntlm_challenge(head: &Head) -> Option<[u8; 8]> {
    head.headers()
        .filter(|(n, _)| {
            n.eq_ignore_ascii_case(b"www-authenticate")
                || n.eq_ignore_ascii_case(b"proxy-authenticate")
        })
        .find_map(|(_, v)| {
            crate::sniff::proto::ntlm::challenge(&crate::sniff::proto::ntlm::from_header(v)?)
        })
}

/// Credentials in a request body (form-encoded bodies only).
pub fn body_hits(head: &Head, body: &[u8], fields: &Fields) -> Vec<Hit> {
    let form = head
        .header("content-type")
        .is_some_and(|ct| starts_with_ci(ct.trim_ascii(), b"application/x-www-form-urlencoded"));
    if !form {
        return Vec::new();
    }
    let mut hits: Vec<Hit> = fields_hit(&form_pairs(body.trim_ascii()), fields, Proto::HttpForm)
        .into_iter()
        .collect();
    for h in &mut hits {
        h.detail = Some(describe(head));
    }
    hits
}

/// `POST host/path` (the query string left out).
fn describe(head: &Head) -> String {
    let path = head
        .target()
        .split(|&c| c == b'?')
        .next()
        .unwrap_or_default();
    let host = head.header("host").unwrap_or_default();
    let mut s = String::with_capacity(head.method().len() + 1 + host.len() + path.len());
    s.push_str(&String::from_utf8_lossy(head.method()));
    s.push(' ');
    if !(starts_with_ci(path, b"http://") || host.is_empty()) {
        s.push_str(&String::from_utf8_lossy(host));
    }
    s.push_str(&String::from_utf8_lossy(path));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(h: &Hit) -> (Option<&[u8]>, Option<&[u8]>) {
        (h.user.as_deref(), h.password.as_deref())
    }
    #[test]
    fn field_names_match_whole_after_decoding() {
        let f = Fields::default();
        let p = form_pairs(b"user_id=test&pass%77ord=s%20e+c%2");
        assert_eq!(
            (&p[1].0[..], &p[1].1[..]),
            (&b"password"[..], &b"s e c%2"[..])
        );
        let hit = fields_hit(&p, &f, Proto::HttpQuery).unwrap();
        assert_eq!(hit.user, None, "user_id is not user");
        assert!(fields_hit(&form_pairs(b"user_id=test"), &f, Proto::HttpQuery).is_none());
        assert!(fields_hit(&form_pairs(b"mypassword=x"), &f, Proto::HttpQuery).is_none());
        let mut f2 = Fields::default();
        f2.add_secret("pin");
        assert!(fields_hit(&form_pairs(b"pin=1234"), &f2, Proto::HttpQuery).is_some());
        assert!(fields_hit(&form_pairs(b"pin=1234"), &f, Proto::HttpQuery).is_none());
    }

    #[test]
    fn basic_digest_bearer() {
        let h = authorization_hit(b"  bAsIc   dGVzdDp0ZTpzdA== ").unwrap();
        assert_eq!(
            (h.proto, pair(&h)),
            (Proto::HttpBasic, (Some(&b"test"[..]), Some(&b"te:st"[..])))
        );
        let h = authorization_hit(
            b"Digest realm=\"r\", username=\"user12345678@domain.xxxx\", nonce=\"n\"",
        )
        .unwrap();
        assert_eq!(
            (h.proto, pair(&h)),
            (
                Proto::HttpDigest,
                (Some(&b"user12345678@domain.xxxx"[..]), None)
            )
        );
        let h = authorization_hit(b"Bearer abc.def").unwrap();
        assert_eq!(
            (h.proto, pair(&h)),
            (Proto::HttpBearer, (None, Some(&b"abc.def"[..])))
        );
        assert!(authorization_hit(b"Negotiate abc").is_none());
        let (head, _) = super::super::parse_request_head(
            b"GET http://x/ HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        let hits = head_hits(&head, &Fields::default());
        assert_eq!(hits[0].detail.as_deref(), Some("GET http://x/ (proxy)"));
    }
}
