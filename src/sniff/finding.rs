//! What the engine reports: credentials seen in cleartext, TLS sessions,
//! and the summary of a run.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::flow::frag::FragStats;
use super::flow::udp::UdpStats;
use super::flow::FlowStats;
use super::proto::Crackable;

/// The protocol (and mechanism) a credential was seen in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    HttpForm,
    HttpQuery,
    HttpBasic,
    HttpDigest,
    HttpBearer,
    HttpNtlm,
    Ftp,
    Pop3,
    Imap,
    Smtp,
    Telnet,
    Snmp,
    Postgres,
    Redis,
    Ldap,
    Mqtt,
    Socks5,
    Socks4,
    Mysql,
    Irc,
    Sip,
    Smb,
    DceRpc,
    Radius,
    Kerberos,
    Vnc,
    Mssql,
}

impl Proto {
    /// The name used in both outputs (`http-form`, `ftp`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::HttpForm => "http-form",
            Proto::HttpQuery => "http-query",
            Proto::HttpBasic => "http-basic",
            Proto::HttpDigest => "http-digest",
            Proto::HttpBearer => "http-bearer",
            Proto::HttpNtlm => "http-ntlm",
            Proto::Ftp => "ftp",
            Proto::Pop3 => "pop3",
            Proto::Imap => "imap",
            Proto::Smtp => "smtp",
            Proto::Telnet => "telnet",
            Proto::Snmp => "snmp",
            Proto::Postgres => "postgres",
            Proto::Redis => "redis",
            Proto::Ldap => "ldap",
            Proto::Mqtt => "mqtt",
            Proto::Socks5 => "socks5",
            Proto::Socks4 => "socks4",
            Proto::Mysql => "mysql",
            Proto::Irc => "irc",
            Proto::Sip => "sip",
            Proto::Smb => "smb",
            Proto::DceRpc => "dcerpc",
            Proto::Radius => "radius",
            Proto::Kerberos => "kerberos",
            Proto::Vnc => "vnc",
            Proto::Mssql => "mssql",
        }
    }
}

/// A credential seen in cleartext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Capture time of the packet that completed it, µs since the epoch.
    pub ts: i64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub proto: Proto,
    pub user: Option<Vec<u8>>,
    /// `None` when no password is visible (HTTP Digest).
    pub password: Option<Vec<u8>>,
    /// Where it was seen (`POST host/path`) or a remark.
    pub detail: Option<String>,
    /// A line for a cracker (`hashcat -m MODE`), when the protocol sent a
    /// challenge/response instead of the password.
    pub hash: Option<Crackable>,
}

/// A TLS connection: encrypted, no credentials visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSession {
    /// Time of the connection's first packet.
    pub ts: i64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub sni: Option<String>,
    /// Versions the client offered (`supported_versions`, GREASE removed;
    /// else the ClientHello's legacy version).
    pub offered: Vec<u16>,
    /// The version the ServerHello chose, when seen.
    pub chosen: Option<u16>,
    pub alpn: Vec<String>,
    /// TCP payload bytes both ways.
    pub bytes: u64,
}

impl TlsSession {
    /// The chosen version, else the highest offered.
    pub fn version(&self) -> Option<u16> {
        self.chosen.or_else(|| self.offered.iter().copied().max())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Credential(Credential),
    Tls(TlsSession),
}

/// Request-to-response latency of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latency {
    pub server: SocketAddr,
    pub count: u64,
    /// Microseconds.
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub packets: u64,
    pub bytes: u64,
    pub tcp_packets: u64,
    pub udp_packets: u64,
    /// Packets that are neither TCP nor UDP (ARP, ICMP...).
    pub other_packets: u64,
    /// IP fragments seen (reassembled or dropped: see `ipfrag`).
    pub fragments: u64,
    /// What IP fragment reassembly did.
    pub ipfrag: FragStats,
    /// Packets that could not be decoded, by reason.
    pub bad_packets: BTreeMap<String, u64>,
    /// Packets the capture's snap length cut short (decoded as far as they go).
    pub truncated_packets: u64,
    pub flow: FlowStats,
    pub udp: UdpStats,
    /// Flows by the protocol recognised in them.
    pub flows_by_proto: BTreeMap<String, u64>,
    pub http_requests: u64,
    /// Parse errors by protocol and reason (the rest of that data skipped).
    pub parse_errors: BTreeMap<String, u64>,
    /// Distinct credentials reported.
    pub credentials: u64,
    /// Every sighting, repeats included.
    pub credential_sightings: u64,
    pub credentials_by_proto: BTreeMap<String, u64>,
    pub tls_sessions: u64,
    pub tls_by_version: BTreeMap<String, u64>,
    pub tls_by_sni: BTreeMap<String, u64>,
    pub latency: Vec<Latency>,
    /// Responses not timed: their server came after the first
    /// `MAX_TIMED_SERVERS` (1024) servers timed.
    pub latency_untimed: u64,
}

impl Summary {
    /// Adds the counts of another sniffer's summary (the shards of one
    /// capture). `flow`, `udp`, `ipfrag` and `latency` are the sniffer's
    /// own (see `Sniffer::absorb`).
    pub fn merge(&mut self, o: &Summary) {
        let Summary {
            packets,
            bytes,
            tcp_packets,
            udp_packets,
            other_packets,
            fragments,
            ipfrag: _,
            bad_packets,
            truncated_packets,
            flow: _,
            udp: _,
            flows_by_proto,
            http_requests,
            parse_errors,
            credentials,
            credential_sightings,
            credentials_by_proto,
            tls_sessions,
            tls_by_version,
            tls_by_sni,
            latency: _,
            latency_untimed,
        } = o;
        self.packets += packets;
        self.bytes += bytes;
        self.tcp_packets += tcp_packets;
        self.udp_packets += udp_packets;
        self.other_packets += other_packets;
        self.fragments += fragments;
        self.truncated_packets += truncated_packets;
        self.http_requests += http_requests;
        self.credentials += credentials;
        self.credential_sightings += credential_sightings;
        self.tls_sessions += tls_sessions;
        self.latency_untimed += latency_untimed;
        for (mine, theirs) in [
            (&mut self.bad_packets, bad_packets),
            (&mut self.flows_by_proto, flows_by_proto),
            (&mut self.parse_errors, parse_errors),
            (&mut self.credentials_by_proto, credentials_by_proto),
            (&mut self.tls_by_version, tls_by_version),
            (&mut self.tls_by_sni, tls_by_sni),
        ] {
            for (k, v) in theirs {
                *mine.entry(k.clone()).or_default() += v;
            }
        }
    }
}
