//! Reaching a domain's graphical display from this process: libvirt hands
//! over a connected socket (`virDomainOpenGraphicsFD`: no VNC port needs to
//! be reachable), or, where the driver cannot, the VNC port it allocated on
//! this host.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use virt::sys;

use super::connect::{Result, Session, VirtError};
use super::domain::{display_uri, is_active, parsed, state_of, wrong};
use super::info::is_local_uri;

/// A connected byte stream to the domain's VNC server.
#[derive(Debug)]
pub enum DisplayConn {
    /// A socket handed over by libvirt.
    Fd(OwnedFd),
    /// A TCP connection to the display port.
    Tcp(TcpStream, SocketAddr),
}

impl DisplayConn {
    /// How it was reached, for the page and the logs.
    pub fn describe(&self) -> String {
        match self {
            DisplayConn::Fd(_) => "a socket from libvirt (virDomainOpenGraphicsFD)".into(),
            DisplayConn::Tcp(_, a) => format!("the VNC port {a}"),
        }
    }

    /// The connection as a std TCP/Unix stream's file descriptor owner.
    pub fn into_owned_fd(self) -> OwnedFd {
        match self {
            DisplayConn::Fd(fd) => fd,
            DisplayConn::Tcp(t, _) => OwnedFd::from(t),
        }
    }
}

/// Opens the first VNC display of `name`.
pub fn open_display(s: &Session, name: &str) -> Result<DisplayConn> {
    let d = s.domain(name)?;
    let st = state_of(s, &d, name)?;
    let px = parsed(
        &d.xml_desc(0)
            .map_err(|e| s.err(&format!("reading the XML of {name}"), e))?,
    )?;
    let Some(idx) = px.graphics.iter().position(|g| g.kind == "vnc") else {
        let what = if px.graphics.is_empty() {
            "no graphical display".to_string()
        } else {
            format!(
                "a {} display, which the browser cannot show (use remote-viewer)",
                px.graphics[0].kind
            )
        };
        return Err(VirtError::Invalid(format!(
            "domain {name:?} has {what}: add <graphics type='vnc' listen='127.0.0.1' autoport='yes'/> to its <devices>"
        )));
    };
    if !is_active(st) {
        return Err(wrong(
            name,
            st,
            "open its display",
            &format!("`tpvirt start {name}` first"),
        ));
    }
    match d.open_graphics_fd(idx as u32, sys::VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH) {
        // SAFETY: libvirt returns a new descriptor that the caller owns.
        Ok(fd) => return Ok(DisplayConn::Fd(unsafe { OwnedFd::from_raw_fd(fd as i32) })),
        Err(e) if !is_local_uri(&s.uri) => {
            return Err(s.err(&format!("opening the display of {name}"), e));
        }
        Err(_) => {}
    }
    // A local daemon that cannot pass descriptors (or the test driver):
    // the display port on this host.
    let uri = display_uri(&px).ok_or_else(|| {
        VirtError::Invalid(format!(
            "domain {name:?} has a VNC display but no port allocated yet"
        ))
    })?;
    let hostport = uri.trim_start_matches("vnc://");
    let addr = hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            VirtError::Invalid(format!("cannot resolve the display address {hostport}"))
        })?;
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(|e| {
        VirtError::Invalid(format!(
            "cannot connect to the display of {name} at {addr}: {e} (libvirt could not hand over the display either)"
        ))
    })?;
    Ok(DisplayConn::Tcp(tcp, addr))
}
