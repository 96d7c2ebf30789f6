//! Giving up root once what needed it is open.

use std::io;

/// Why privileges could not be dropped.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PrivilegeError(pub String);

/// After opening what needs root (a capture, a port, a log): switch to
/// `user` (needs root: the user's groups, group and user all changed,
/// checked that root cannot come back), then drop every capability left
/// and forbid gaining new ones (`PR_SET_NO_NEW_PRIVS`). What was opened
/// keeps working. Returns what was done, for a message.
pub fn drop_privileges(user: Option<&str>) -> Result<String, PrivilegeError> {
    let err = PrivilegeError;
    let mut done = Vec::new();
    if let Some(name) = user {
        let cname =
            std::ffi::CString::new(name).map_err(|_| err(format!("bad user name {name:?}")))?;
        // SAFETY: getpwnam returns a pointer to static storage or null; the
        // fields are copied out before any other call.
        let (uid, gid) = unsafe {
            let pw = libc::getpwnam(cname.as_ptr());
            if pw.is_null() {
                return Err(err(format!("no user named {name:?}")));
            }
            ((*pw).pw_uid, (*pw).pw_gid)
        };
        // SAFETY: plain system calls on integers and a one-element array.
        unsafe {
            if libc::geteuid() != 0 {
                return Err(err(format!(
                    "--user {name} needs root (running as uid {})",
                    libc::geteuid()
                )));
            }
            // The user's own groups (adm reads /var/log/apache2, for one).
            if libc::initgroups(cname.as_ptr(), gid) != 0 && libc::setgroups(1, &gid) != 0 {
                return Err(err(format!("setgroups: {}", io::Error::last_os_error())));
            }
            if libc::setgid(gid) != 0 {
                return Err(err(format!(
                    "setgid({gid}): {}",
                    io::Error::last_os_error()
                )));
            }
            if libc::setuid(uid) != 0 {
                return Err(err(format!(
                    "setuid({uid}): {}",
                    io::Error::last_os_error()
                )));
            }
            if uid != 0 && (libc::setuid(0) == 0 || libc::geteuid() == 0) {
                return Err(err("root could be regained after setuid".into()));
            }
        }
        done.push(format!("now user {name} (uid {uid}, gid {gid})"));
    }
    // SAFETY: prctl and capset with valid arguments; capset on this thread,
    // the only one running at this point.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 {
            done.push("no new privileges".into());
        }
        #[repr(C)]
        struct CapHeader {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct CapData {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let mut hdr = CapHeader {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        let data = [CapData {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        if libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) == 0 {
            done.push("all capabilities dropped".into());
        } else {
            return Err(err(format!("capset: {}", io::Error::last_os_error())));
        }
    }
    Ok(done.join(", "))
}

