//! SMTP `AUTH PLAIN` and `AUTH LOGIN` (base64 decoded).

use super::sasl::SaslError;
use super::{verb, Hit, Sasl};
use crate::sniff::finding::Proto;

#[derive(Debug, Default)]
pub struct Smtp {
    /// The client asked for TLS on this connection (STARTTLS, STLS, AUTH
    /// TLS): its next bytes may be a ClientHello.
    pub starttls: bool,
    sasl: Sasl,
    /// The last malformed SASL line, for the engine to count.
    pub error: Option<SaslError>,
    /// After DATA: message lines until the lone dot are not commands.
    in_data: bool,
}

impl Smtp {
    /// One server line: a SASL challenge (CRAM-MD5, NTLM) or nothing.
    pub fn server_line(&mut self, line: &[u8]) {
        if let Err(e) = self.sasl.server_line(line) {
            self.error = Some(e);
        }
    }

    /// One client line (without its line end).
    pub fn client_line(&mut self, line: &[u8]) -> Option<Hit> {
        if self.in_data {
            self.in_data = line != b".";
            return None;
        }
        if self.sasl.active() {
            return self
                .sasl
                .line_checked(Proto::Smtp, line)
                .unwrap_or_else(|e| {
                    self.error = Some(e);
                    None
                });
        }
        let (cmd, arg) = verb(line);
        if cmd.eq_ignore_ascii_case(b"AUTH") {
            let (mech, initial) = verb(arg);
            return self
                .sasl
                .start_checked(Proto::Smtp, mech, Some(initial))
                .unwrap_or_else(|e| {
                    self.error = Some(e);
                    None
                });
        }
        if cmd.eq_ignore_ascii_case(b"DATA") {
            self.in_data = true;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_login_user_and_password_on_their_own_lines() {
        let mut s = Smtp::default();
        assert_eq!(s.client_line(b"EHLO GP"), None);
        assert_eq!(s.client_line(b"AUTH LOGIN"), None);
        assert_eq!(s.client_line(b"Z3VycGFydGFwQHBhdHJpb3RzLmlu"), None);
        let h = s.client_line(b"cHVuamFiQDEyMw==").unwrap();
        assert_eq!(h.user.as_deref(), Some(&b"gurpartap@patriots.in"[..]));
        assert_eq!(h.password.as_deref(), Some(&b"punjab@123"[..]));
        assert_eq!(h.proto, Proto::Smtp);
    }

    #[test]
    fn auth_login_with_initial_user_and_message_bodies_ignored() {
        let mut s = Smtp::default();
        s.client_line(b"AUTH LOGIN dXNlcg==");
        assert_eq!(s.client_line(b"cGFzcw==").unwrap().user.unwrap(), b"user");
        s.client_line(b"DATA");
        assert_eq!(s.client_line(b"AUTH PLAIN AHUAcA=="), None);
        s.client_line(b".");
        assert!(s.client_line(b"AUTH PLAIN AHUAcA==").is_some());
    }
}
