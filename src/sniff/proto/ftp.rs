//! FTP `USER` / `PASS`.

use super::{verb, Hit};
use crate::sniff::finding::Proto;

#[derive(Debug, Default)]
pub struct Ftp {
    /// The client asked for TLS on this connection (STARTTLS, STLS, AUTH
    /// TLS): its next bytes may be a ClientHello.
    pub starttls: bool,
    user: Option<Vec<u8>>,
}

impl Ftp {
    /// One client command line (without its line end).
    pub fn client_line(&mut self, line: &[u8]) -> Option<Hit> {
        let (cmd, arg) = verb(line);
        if cmd.eq_ignore_ascii_case(b"USER") {
            self.user = Some(arg.to_vec());
        } else if cmd.eq_ignore_ascii_case(b"PASS") {
            return Some(Hit::new(Proto::Ftp, self.user.take().as_deref(), Some(arg)));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_then_pass_is_one_credential() {
        let mut f = Ftp::default();
        assert_eq!(f.client_line(b"USER anonymous"), None);
        assert_eq!(f.client_line(b"SYST"), None);
        let h = f.client_line(b"pass ftp@example.com").unwrap();
        assert_eq!(h.user.as_deref(), Some(&b"anonymous"[..]));
        assert_eq!(h.password.as_deref(), Some(&b"ftp@example.com"[..]));
        // The user is not reused for a later PASS.
        assert_eq!(f.client_line(b"PASS x").unwrap().user, None);
    }
}
