//! libvirt domain commands and qcow2 disks (binary `tpvirt`; its command
//! definitions are in `cli::virt`).
//!
//! The pure parts ([`disk`], [`size`], [`xml`], [`watch`], [`check`]) build
//! without libvirt; the rest needs feature `libvirt`. Engines return data;
//! the binary prints it (text or `--json`).

pub mod disk;
pub mod size;
pub mod xml;

#[cfg(feature = "libvirt")]
pub mod connect;
#[cfg(feature = "libvirt")]
pub mod display;
#[cfg(feature = "libvirt")]
pub mod domain;
#[cfg(feature = "libvirt")]
pub mod info;
#[cfg(feature = "libvirt")]
pub mod resources;
#[cfg(feature = "libvirt")]
pub mod snapshot;
#[cfg(feature = "libvirt")]
pub mod usage;

#[cfg(feature = "libvirt")]
pub use connect::{resolve_uri, Session, VirtError};
#[cfg(feature = "libvirt")]
pub mod backup;
pub mod check;
#[cfg(feature = "libvirt")]
pub mod clone;
#[cfg(feature = "libvirt")]
pub mod console;
#[cfg(feature = "libvirt")]
pub mod import;
#[cfg(feature = "libvirt")]
pub mod migrate;
#[cfg(feature = "libvirt")]
pub mod report;
pub mod watch;
