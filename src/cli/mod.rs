//! What the three binaries share: exit codes, error reporting, a closed
//! pipe, output formats, the progress bar, `--generate` (man page and
//! completions) and tpvirt's commands.

pub mod follow;
pub mod generate;
pub mod privileges;
pub mod progress;
#[cfg(feature = "libvirt")]
pub mod virt;

use std::error::Error;
use std::fmt::Display;
use std::io;

/// Something was found (matching lines, credentials, data printed).
pub const EXIT_FOUND: i32 = 0;
/// The run worked and nothing was found.
pub const EXIT_NONE: i32 = 1;
/// An error: bad arguments, unreadable input, a failed operation.
pub const EXIT_ERROR: i32 = 2;

/// True when `err`, or any error in its chain, is a closed pipe
/// (`tplog ... | head`): the reader went away, which is not an error.
pub fn is_broken_pipe(err: &(dyn Error + 'static)) -> bool {
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(ioe) = e.downcast_ref::<io::Error>() {
            if ioe.kind() == io::ErrorKind::BrokenPipe {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

/// Ends the process with the documented exit code: 0 when `found`, 1 when
/// not, 2 on error (printed as `prog: error: cause: cause...`). A closed
/// pipe exits 0 quietly.
pub fn exit<E>(prog: &str, result: Result<bool, E>) -> !
where
    E: AsRef<dyn Error + Send + Sync + 'static> + Display,
{
    let code = match result {
        Ok(true) => EXIT_FOUND,
        Ok(false) => EXIT_NONE,
        Err(e) => {
            if is_broken_pipe(e.as_ref()) {
                EXIT_FOUND
            } else {
                let mut msg = format!("{prog}: error: {e}");
                let mut src = e.as_ref().source();
                while let Some(s) = src {
                    let s_txt = s.to_string();
                    if !msg.ends_with(&s_txt) {
                        msg.push_str(": ");
                        msg.push_str(&s_txt);
                    }
                    src = s.source();
                }
                eprintln!("{msg}");
                EXIT_ERROR
            }
        }
    };
    std::process::exit(code)
}

/// Writes bytes that may not be UTF-8 as a JSON string: valid UTF-8 is
/// escaped as JSON requires; a byte that is not part of valid UTF-8 is
/// written as the text `\xHH` (Apache's own escape), so nothing is lost
/// or replaced.
pub fn json_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for b in chunk.invalid() {
            out.extend_from_slice(format!("\\\\x{b:02x}").as_bytes());
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bytes_escapes_and_keeps_invalid_bytes_visible() {
        let mut out = Vec::new();
        json_bytes(&mut out, b"a\"b\\c\n\x01\xff\xc3\xa9");
        assert_eq!(out, b"\"a\\\"b\\\\c\\n\\u0001\\\\xff\xc3\xa9\"");
    }

    #[test]
    fn broken_pipe_is_found_in_a_chain() {
        #[derive(Debug)]
        struct Wrap(io::Error);
        impl Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "writing output")
            }
        }
        impl Error for Wrap {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let w = Wrap(io::Error::new(io::ErrorKind::BrokenPipe, "closed"));
        assert!(is_broken_pipe(&w));
        let w = Wrap(io::Error::new(io::ErrorKind::NotFound, "nope"));
        assert!(!is_broken_pipe(&w));
    }
}
