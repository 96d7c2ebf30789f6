//! POP3 `USER` / `PASS` and `AUTH PLAIN` / `AUTH LOGIN`.

use super::sasl::SaslError;
use super::{verb, Hit, Sasl};
use crate::sniff::finding::Proto;

#[derive(Debug, Default)]
pub struct Pop3 {
    /// The client asked for TLS on this connection (STARTTLS, STLS, AUTH
    /// TLS): its next bytes may be a ClientHello.
    pub starttls: bool,
    user: Option<Vec<u8>>,
    sasl: Sasl,
    /// The last malformed SASL line, for the engine to count.
    pub error: Option<SaslError>,
}

impl Pop3 {
    /// One server line: a SASL challenge (CRAM-MD5, NTLM) or nothing.
    pub fn server_line(&mut self, line: &[u8]) {
        if let Err(e) = self.sasl.server_line(line) {
            self.error = Some(e);
        }
    }

    /// One client line (without its line end).
    pub fn client_line(&mut self, line: &[u8]) -> Option<Hit> {
        if self.sasl.active() {
            return self
                .sasl
                .line_checked(Proto::Pop3, line)
                .unwrap_or_else(|e| {
                    self.error = Some(e);
                    None
                });
        }
        let (cmd, arg) = verb(line);
        if cmd.eq_ignore_ascii_case(b"USER") {
            self.user = Some(arg.to_vec());
        } else if cmd.eq_ignore_ascii_case(b"PASS") {
            return Some(Hit::new(
                Proto::Pop3,
                self.user.take().as_deref(),
                Some(arg),
            ));
        } else if cmd.eq_ignore_ascii_case(b"AUTH") {
            let (mech, initial) = verb(arg);
            return self
                .sasl
                .start_checked(Proto::Pop3, mech, Some(initial))
                .unwrap_or_else(|e| {
                    self.error = Some(e);
                    None
                });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_plain_on_its_own_line_and_inline() {
        let mut p = Pop3::default();
        assert_eq!(p.client_line(b"CAPA"), None);
        assert_eq!(p.client_line(b"AUTH PLAIN"), None);
        let h = p
            .client_line(b"AGRpZ2l0YWxpbnZlc3RpZ2F0b3JAbmV0d29ya3NpbXMuY29tAG5hcGllcg==")
            .unwrap();
        assert_eq!(
            h.user.as_deref(),
            Some(&b"digitalinvestigator@networksims.com"[..])
        );
        assert_eq!(h.password.as_deref(), Some(&b"napier"[..]));
        let h = p.client_line(b"AUTH PLAIN AHUAcHc=").unwrap();
        assert_eq!(
            (h.user.unwrap(), h.password.unwrap()),
            (b"u".to_vec(), b"pw".to_vec())
        );
    }

    #[test]
    fn user_pass_and_cancelled_auth() {
        let mut p = Pop3::default();
        p.client_line(b"USER bob");
        assert_eq!(
            p.client_line(b"PASS s3cret").unwrap().password.unwrap(),
            b"s3cret"
        );
        p.client_line(b"AUTH LOGIN");
        assert_eq!(p.client_line(b"*"), None);
        // After a cancel, lines are commands again.
        assert_eq!(p.client_line(b"dXNlcg=="), None);
    }
}
