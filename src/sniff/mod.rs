//! Packet decoding, TCP reassembly and protocol parsers.
//!
//! Data flows one way: [`link`] decodes a packet to a TCP segment or a UDP
//! datagram, [`flow`] reassembles each TCP direction (and keys UDP flows), [`proto`] parsers turn bytes into
//! credentials and TLS facts, the [`engine`] collects them as
//! [`finding`]s, and [`report`] prints. Only [`source`] (feature
//! `capture`) knows about libpcap.

pub mod engine;
pub mod finding;
pub mod flow;
pub mod hashfile;
pub mod link;
pub mod proto;
pub mod report;
#[cfg(feature = "capture")]
pub mod shard;
#[cfg(feature = "capture")]
pub mod source;

pub use engine::{Config, Sniffer};
pub use finding::{Credential, Finding, Proto, Summary, TlsSession};
pub use link::LinkType;
