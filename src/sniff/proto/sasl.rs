//! SASL exchanges on the line protocols (SMTP, POP3 and IMAP
//! AUTH/AUTHENTICATE): PLAIN and LOGIN (cleartext), CRAM-MD5 and NTLM
//! (challenge/response: the challenge comes on a server line, `+ b64` or
//! `334 b64`), XOAUTH2 and OAUTHBEARER (bearer tokens).

use super::{b64, ntlm, sasl_plain, Crackable, Hit};
use crate::sniff::finding::Proto;
use base64::Engine;

/// What can go wrong in a SASL exchange; counted under `parse_errors`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SaslError {
    #[error("not base64")]
    Base64,
    #[error("CRAM-MD5 response is not `user hexdigest`")]
    CramResponse,
    #[error("OAuth response has no `auth=Bearer` token")]
    OauthToken,
    #[error("NTLM: {0}")]
    Ntlm(String),
}

/// The state of one exchange: what the next line (client or server) is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Sasl {
    #[default]
    Idle,
    /// PLAIN sent without an initial response: the next line is it.
    Plain,
    /// LOGIN: the next line is the base64 user name.
    LoginUser,
    /// LOGIN: the next line is the base64 password.
    LoginPass(Vec<u8>),
    /// CRAM-MD5: the server's challenge has not been seen yet.
    CramChallenge,
    /// CRAM-MD5: the client's `user digest` answers this (decoded) challenge.
    CramResponse(Vec<u8>),
    /// NTLM: NEGOTIATE/AUTHENTICATE from the client, CHALLENGE from the
    /// server (kept once seen).
    Ntlm(Option<[u8; 8]>),
    /// XOAUTH2 or OAUTHBEARER without an initial response.
    Oauth,
}

impl Sasl {
    /// `mech` and the optional initial response of an AUTH command.
    pub fn start(&mut self, proto: Proto, mech: &[u8], initial: Option<&[u8]>) -> Option<Hit> {
        self.start_checked(proto, mech, initial).ok().flatten()
    }

    /// [`Sasl::start`], telling a malformed initial response apart.
    pub fn start_checked(
        &mut self,
        proto: Proto,
        mech: &[u8],
        initial: Option<&[u8]>,
    ) -> Result<Option<Hit>, SaslError> {
        *self = Sasl::Idle;
        let initial = initial.filter(|i| !i.is_empty() && *i != b"=");
        let is = |m: &[u8]| mech.eq_ignore_ascii_case(m);
        if is(b"PLAIN") {
            match initial {
                Some(i) => return Ok(plain_hit(proto, i)),
                None => *self = Sasl::Plain,
            }
        } else if is(b"LOGIN") {
            match initial.and_then(b64) {
                Some(u) => *self = Sasl::LoginPass(u),
                None => *self = Sasl::LoginUser,
            }
        } else if is(b"CRAM-MD5") {
            *self = Sasl::CramChallenge;
        } else if is(b"NTLM") {
            *self = Sasl::Ntlm(None);
            if let Some(i) = initial {
                return self.line_checked(proto, i);
            }
        } else if is(b"XOAUTH2") || is(b"OAUTHBEARER") {
            match initial {
                Some(i) => return oauth_hit(proto, i).map(Some),
                None => *self = Sasl::Oauth,
            }
        }
        Ok(None)
    }

    /// True while a SASL exchange waits for a client line.
    pub fn active(&self) -> bool {
        *self != Sasl::Idle
    }

    /// A server line: `+ b64` (IMAP, POP3) or `334 b64` (SMTP) carries the
    /// CRAM-MD5 or NTLM challenge; other lines are ignored.
    pub fn server_line(&mut self, line: &[u8]) -> Result<(), SaslError> {
        let data = match line {
            [b'+', b' ', rest @ ..] => rest,
            [b'3', b'3', b'4', b' ', rest @ ..] => rest,
            _ => return Ok(()),
        };
        match self {
            Sasl::CramChallenge => {
                *self = Sasl::CramResponse(b64(data).ok_or(SaslError::Base64)?);
            }
            Sasl::Ntlm(ch) if !data.is_empty() => {
                if let Some(c) = b64(data).as_deref().and_then(ntlm::challenge) {
                    *ch = Some(c);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The next client line of the exchange.
    pub fn line(&mut self, proto: Proto, line: &[u8]) -> Option<Hit> {
        self.line_checked(proto, line).ok().flatten()
    }

    /// [`Sasl::line`], telling a malformed line apart.
    pub fn line_checked(&mut self, proto: Proto, line: &[u8]) -> Result<Option<Hit>, SaslError> {
        let state = std::mem::take(self);
        if line == b"*" {
            return Ok(None);
        }
        match state {
            Sasl::Idle | Sasl::CramChallenge => Ok(None),
            Sasl::Plain => Ok(plain_hit(proto, line)),
            Sasl::LoginUser => {
                *self = Sasl::LoginPass(b64(line).ok_or(SaslError::Base64)?);
                Ok(None)
            }
            Sasl::LoginPass(user) => {
                let pass = b64(line).ok_or(SaslError::Base64)?;
                Ok(Some(Hit::new(proto, Some(&user), Some(&pass))))
            }
            Sasl::CramResponse(challenge) => cram_hit(proto, &challenge, line).map(Some),
            Sasl::Ntlm(ch) => {
                let m = b64(line).ok_or(SaslError::Base64)?;
                match ntlm::authenticate(proto, &m, ch) {
                    Ok(Some(h)) => Ok(Some(h)),
                    // NEGOTIATE: the exchange goes on.
                    Ok(None) => {
                        *self = Sasl::Ntlm(ch);
                        Ok(None)
                    }
                    Err(e) => Err(SaslError::Ntlm(e.to_string())),
                }
            }
            Sasl::Oauth => oauth_hit(proto, line).map(Some),
        }
    }
}

fn plain_hit(proto: Proto, b64_line: &[u8]) -> Option<Hit> {
    let (u, p) = sasl_plain(&b64(b64_line)?)?;
    Some(Hit::new(proto, Some(&u), Some(&p)))
}

/// CRAM-MD5: the decoded `challenge` and the client's base64 `user digest`
/// → the user and a hashcat 10200 line, `$cram_md5$b64(challenge)$b64(response)`.
pub fn cram_hit(proto: Proto, challenge: &[u8], line: &[u8]) -> Result<Hit, SaslError> {
    let resp = b64(line).ok_or(SaslError::Base64)?;
    let sp = memchr::memrchr(b' ', &resp).ok_or(SaslError::CramResponse)?;
    let (user, digest) = (&resp[..sp], &resp[sp + 1..]);
    if digest.len() != 32 || !digest.iter().all(u8::is_ascii_hexdigit) {
        return Err(SaslError::CramResponse);
    }
    let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut h = Hit::new(proto, Some(user), None);
    h.detail = Some("CRAM-MD5".into());
    h.hash = Some(Crackable::hashcat(
        10200,
        format!("$cram_md5${}${}", enc(challenge), enc(&resp)),
    ));
    Ok(h)
}

/// XOAUTH2 (`user=U\x01auth=Bearer T\x01\x01`) or OAUTHBEARER (GS2 header
/// `n,a=U,` then `\x01auth=Bearer T\x01...`): the user and the token as
/// the secret.
pub fn oauth(decoded: &[u8]) -> Option<(Option<Vec<u8>>, Vec<u8>)> {
    let mut user = None;
    let mut token = None;
    for (i, part) in decoded.split(|&c| c == 1).enumerate() {
        if let Some(u) = part.strip_prefix(b"user=") {
            user = Some(u.to_vec());
        } else if let Some(t) = part.strip_prefix(b"auth=") {
            let t = t.trim_ascii();
            let t = match t.get(..7) {
                Some(b) if b.eq_ignore_ascii_case(b"Bearer ") => &t[7..],
                _ => t,
            };
            token = Some(t.trim_ascii().to_vec());
        } else if i == 0 {
            // The GS2 header: `n,a=user,` (the authzid is optional).
            user = part
                .split(|&c| c == b',')
                .find_map(|f| f.strip_prefix(b"a="))
                .map(<[u8]>::to_vec);
        }
    }
    Some((user, token.filter(|t| !t.is_empty())?))
}

fn oauth_hit(proto: Proto, line: &[u8]) -> Result<Hit, SaslError> {
    let d = b64(line).ok_or(SaslError::Base64)?;
    let (user, token) = oauth(&d).ok_or(SaslError::OauthToken)?;
    let mut h = Hit::new(proto, user.as_deref(), Some(&token));
    h.detail = Some("OAuth bearer token".into());
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(b: &[u8]) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .encode(b)
            .into_bytes()
    }

    #[test]
    fn cram_md5_challenge_then_response() {
        let mut s = Sasl::default();
        assert_eq!(s.start(Proto::Imap, b"CRAM-MD5", None), None);
        s.server_line(b"+ PDEyMzQ1QGxhYj4=").unwrap();
        let resp = enc(b"alice 0123456789abcdef0123456789abcdef");
        let h = s.line(Proto::Imap, &resp).unwrap();
        assert_eq!(h.user.as_deref(), Some(&b"alice"[..]));
        let c = h.hash.unwrap();
        assert_eq!(c.mode, Some(10200));
        assert_eq!(
            c.line,
            format!(
                "$cram_md5$PDEyMzQ1QGxhYj4=${}",
                String::from_utf8(resp).unwrap()
            )
        );
        assert!(!s.active());
    }

    #[test]
    fn cram_md5_malformed_is_an_error_not_a_hit() {
        let mut s = Sasl::default();
        s.start(Proto::Smtp, b"cram-md5", None);
        assert_eq!(s.server_line(b"334 !!!"), Err(SaslError::Base64));
        let mut s = Sasl::CramResponse(b"<1@x>".to_vec());
        assert_eq!(
            s.line_checked(Proto::Smtp, &enc(b"nodigest")),
            Err(SaslError::CramResponse)
        );
    }

    #[test]
    fn xoauth2_and_oauthbearer_tokens() {
        let mut s = Sasl::default();
        let x = enc(b"user=bob@lab\x01auth=Bearer tok.123\x01\x01");
        let h = s.start(Proto::Smtp, b"XOAUTH2", Some(&x)).unwrap();
        assert_eq!(h.user.as_deref(), Some(&b"bob@lab"[..]));
        assert_eq!(h.password.as_deref(), Some(&b"tok.123"[..]));
        let o = enc(b"n,a=eve@lab,\x01host=127.0.0.1\x01port=143\x01auth=Bearer abc\x01\x01");
        assert_eq!(s.start(Proto::Imap, b"OAUTHBEARER", None), None);
        let h = s.line(Proto::Imap, &o).unwrap();
        assert_eq!(h.user.as_deref(), Some(&b"eve@lab"[..]));
        assert_eq!(h.password.as_deref(), Some(&b"abc"[..]));
        assert_eq!(
            s.start_checked(Proto::Imap, b"XOAUTH2", Some(&enc(b"user=a\x01\x01"))),
            Err(SaslError::OauthToken)
        );
    }

    #[test]
    fn ntlm_negotiate_keeps_the_exchange_open() {
        let mut s = Sasl::default();
        let t1 = enc(b"NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2");
        assert_eq!(s.start(Proto::Pop3, b"NTLM", Some(&t1)), None);
        assert_eq!(s, Sasl::Ntlm(None));
        let mut t2 = b"NTLMSSP\0\x02\0\0\0".to_vec();
        t2.resize(24, 0);
        t2.extend(*b"\x11\x22\x33\x44\x55\x66\x77\x88");
        t2.resize(48, 0);
        let mut line = b"+ ".to_vec();
        line.extend(enc(&t2));
        s.server_line(&line).unwrap();
        assert_eq!(s, Sasl::Ntlm(Some(*b"\x11\x22\x33\x44\x55\x66\x77\x88")));
    }
}
