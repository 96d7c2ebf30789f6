//! tplab: the cloud-computing lab's toolkit.
//!
//! * [`log`]: zero-copy Apache/nginx access-log parsing and a parallel query
//!   engine (binary `tplog`).
//! * [`sniff`]: packet decoding, TCP reassembly and cleartext-credential
//!   detection (binary `tpsniff`; live and file capture need feature `capture`).
//! * [`virt`]: libvirt domain commands and qcow2 disks (binary `tpvirt`;
//!   the libvirt parts need feature `libvirt`).
//! * [`console`]: the lab in a browser over the three (binary `tplab`,
//!   feature `console`).
//!
//! Engines never print; printers never parse. Binaries only turn arguments
//! into a checked configuration, call the library and map the outcome to an
//! exit code (see [`cli`]).

pub mod cli;
#[cfg(feature = "console")]
pub mod console;
pub mod log;
pub mod sniff;
pub mod testgen;
pub mod virt;
