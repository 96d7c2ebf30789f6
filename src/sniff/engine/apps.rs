//! What the engine keeps per flow: the parser state of the protocol each
//! TCP flow was recognised as, and what a UDP flow was decided to be.

use crate::sniff::flow::udp::UdpFlow;
use crate::sniff::flow::AppState;
use crate::sniff::proto::{
    dcerpc, ftp, http, imap, irc, kerberos, ldap, mqtt, mysql, pop3, postgres, radius, redis, sip,
    smb, smtp, snmp, socks, tds, telnet, tls, vnc,
};

#[derive(Debug, Default)]
pub(super) struct TlsState {
    pub client: tls::HelloReader,
    pub server: tls::HelloReader,
    pub hello: Option<tls::ClientHello>,
    pub server_hello: Option<tls::ServerHello>,
}

/// What the engine keeps per flow.
#[derive(Debug, Default)]
pub(super) enum App {
    #[default]
    Undecided,
    Http(Box<http::HttpStream>),
    Tls(Box<TlsState>),
    Ftp(ftp::Ftp),
    Pop3(pop3::Pop3),
    Imap(imap::Imap),
    Smtp(smtp::Smtp),
    Telnet(Box<telnet::Telnet>),
    Postgres(Box<postgres::Postgres>),
    Redis(redis::Redis),
    Ldap(ldap::Ldap),
    Mqtt(mqtt::Mqtt),
    Socks(Box<socks::Socks>),
    Mysql(Box<mysql::Mysql>),
    Irc(irc::Irc),
    Sip(sip::SipStream),
    Smb(Box<smb::Smb>),
    DceRpc(Box<dcerpc::DceRpc>),
    Kerberos(Box<KerberosTcp>),
    Vnc(Box<vnc::Vnc>),
    Tds(Box<tds::Tds>),
    Other,
}

/// Both directions of a Kerberos TCP connection.
#[derive(Debug, Default)]
pub(super) struct KerberosTcp {
    pub client: kerberos::TcpHalf,
    pub server: kerberos::TcpHalf,
}

/// What the engine keeps per UDP flow.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum UdpApp {
    #[default]
    Undecided,
    Snmp,
    Sip,
    Radius,
    Kerberos,
    Other,
}

impl UdpApp {
    pub(super) fn decide(f: &UdpFlow<UdpApp>, payload: &[u8]) -> UdpApp {
        let ports = [f.client.port(), f.server.port()];
        if ports.iter().any(|p| matches!(p, 161 | 162)) || snmp::looks_like(payload) {
            UdpApp::Snmp
        } else if ports.iter().any(|p| matches!(p, 5060 | 5061)) || sip::looks_like(payload) {
            UdpApp::Sip
        } else if ports.contains(&88) || kerberos::looks_like(payload) {
            UdpApp::Kerberos
        } else if ports.iter().any(|p| matches!(p, 1812 | 1645)) || radius::looks_like(payload) {
            UdpApp::Radius
        } else {
            UdpApp::Other
        }
    }

    pub(super) fn kind_name(self) -> &'static str {
        match self {
            UdpApp::Undecided => "udp-undecided",
            UdpApp::Snmp => "snmp",
            UdpApp::Sip => "sip",
            UdpApp::Radius => "radius",
            UdpApp::Kerberos => "kerberos",
            UdpApp::Other => "udp-other",
        }
    }
}

impl AppState for App {
    fn held(&self) -> usize {
        match self {
            App::Http(h) => h.held(),
            _ => 0,
        }
    }
}

impl App {
    pub(super) fn kind_name(&self) -> &'static str {
        match self {
            App::Undecided => "undecided",
            App::Http(_) => "http",
            App::Tls(_) => "tls",
            App::Ftp(_) => "ftp",
            App::Pop3(_) => "pop3",
            App::Imap(_) => "imap",
            App::Smtp(_) => "smtp",
            App::Telnet(_) => "telnet",
            App::Postgres(_) => "postgres",
            App::Redis(_) => "redis",
            App::Ldap(_) => "ldap",
            App::Mqtt(_) => "mqtt",
            App::Socks(_) => "socks",
            App::Mysql(_) => "mysql",
            App::Irc(_) => "irc",
            App::Sip(_) => "sip",
            App::Smb(_) => "smb",
            App::DceRpc(_) => "dcerpc",
            App::Kerberos(_) => "kerberos",
            App::Vnc(_) => "vnc",
            App::Tds(_) => "mssql",
            App::Other => "other",
        }
    }
}
