//! The serial console loop: terminal in raw mode, bytes both ways between
//! the terminal and a libvirt stream, Ctrl-] (0x1d) to leave.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use virt::stream::Stream;

/// The byte that ends a console session (Ctrl-], as in virsh).
pub const ESCAPE: u8 = 0x1d;

/// Puts a terminal in raw mode and restores it when dropped.
struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    fn enter(fd: i32) -> Option<RawMode> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        unsafe {
            if libc::isatty(fd) != 1 {
                return None;
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return None;
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            if libc::tcsetattr(fd, libc::TCSANOW, &t) != 0 {
                return None;
            }
            Some(RawMode { fd, saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in `enter`.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// Copies the stream to stdout and stdin to the stream until Ctrl-] or the
/// console closes.
pub fn pump(stream: &Stream) -> io::Result<()> {
    // The receiving thread may stay blocked in libvirt after we return; it
    // ends with the process.
    let stream: &'static Stream = Box::leak(Box::new(stream.clone()));
    let closed = Arc::new(AtomicBool::new(false));
    let c2 = Arc::clone(&closed);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut out = io::stdout();
        loop {
            match stream.recv(&mut buf) {
                Ok(n) if n > 0 => {
                    let _ = out.write_all(&buf[..n as usize]);
                    let _ = out.flush();
                }
                _ => break,
            }
        }
        c2.store(true, Ordering::SeqCst);
    });
    let stdin = io::stdin();
    let fd = stdin.as_raw_fd();
    let _raw = RawMode::enter(fd);
    let mut lock = stdin.lock();
    let mut buf = [0u8; 1024];
    while !closed.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 100) };
        if r <= 0 {
            continue;
        }
        let n = lock.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let data = &buf[..n];
        let (send, quit) = match data.iter().position(|&b| b == ESCAPE) {
            Some(i) => (&data[..i], true),
            None => (data, false),
        };
        if !send.is_empty() {
            stream
                .send(send)
                .map_err(|e| io::Error::other(e.message().to_string()))?;
        }
        if quit {
            break;
        }
    }
    Ok(())
}
