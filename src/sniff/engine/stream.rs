//! The TCP side of the engine: what reassembly delivered on a flow goes to
//! its protocol's parser (both directions, the server's first), credentials
//! are checked against what was already reported, and a flow's end reports
//! what it still held (a TLS session, a login left without its answer).

use super::*;

/// The server lines of a mail flow go to its SASL state machine (CRAM-MD5
/// and NTLM challenges arrive that way); other line protocols need none.
/// A partial line is kept; a TLS record after STARTTLS is left for the TLS
/// parser.
fn mail_server_lines(app: &mut App, data: &mut Vec<u8>, errors: &mut BTreeMap<String, u64>) {
    let starttls = match app {
        App::Pop3(p) => p.starttls,
        App::Imap(p) => p.starttls,
        App::Smtp(p) => p.starttls,
        _ => {
            data.clear();
            return;
        }
    };
    if starttls && data.starts_with(&[0x16, 0x03]) {
        return;
    }
    for line in proto::take_lines(data) {
        match app {
            App::Pop3(p) => p.server_line(&line),
            App::Imap(p) => p.server_line(&line),
            App::Smtp(p) => p.server_line(&line),
            _ => {}
        }
        mail_error(app, errors);
    }
    if data.len() > 64 * 1024 {
        data.clear();
    }
}

/// Counts the malformed SASL line a mail parser noted, by protocol and name.
fn mail_error(app: &mut App, errors: &mut BTreeMap<String, u64>) {
    let e = match app {
        App::Pop3(p) => p.error.take().map(|e| format!("pop3: {e}")),
        App::Imap(p) => p.error.take().map(|e| format!("imap: {e}")),
        App::Smtp(p) => p.error.take().map(|e| format!("smtp: {e}")),
        _ => None,
    };
    if let Some(e) = e {
        bump(errors, &e);
    }
}

/// Tells reassembly which coming bytes no parser will read, so that they
/// are passed over instead of copied: HTTP response bodies of known length
/// (and responses no longer read), a TLS direction once its hello is read,
/// flows of no known protocol.
fn discard_unread(app: &mut App, half: &mut [HalfStream; 2]) {
    let [to_server, to_client] = half;
    match app {
        App::Http(h) if to_client.data.is_empty() => match h.server_unread() {
            0 => {}
            n => to_client.discard(n),
        },
        App::Tls(t) => {
            for (r, half) in [(&t.client, to_server), (&t.server, to_client)] {
                if r.is_done() {
                    half.data.clear();
                    half.discard(u64::MAX);
                }
            }
        }
        App::Other => {
            to_server.discard(u64::MAX);
            to_client.discard(u64::MAX);
        }
        _ => {}
    }
}


impl Ctx {
    /// Runs the flow's protocol parser on what reassembly delivered (both
    /// directions; the server's bytes first, so prompts precede answers).
    pub(super) fn process(&mut self, flow: &mut Flow<App>, ts: i64, out: &mut Vec<Finding>) {
        if let App::Undecided = flow.app {
            if flow.syn_seen.is_none() && proto::opens_conversation(&flow.half[1].data) {
                // No handshake seen and the ports guessed wrong: the end
                // taken for the server sent a request or a ClientHello.
                flow.swap_ends();
            }
            let (c, s) = (&flow.half[0].data, &flow.half[1].data);
            if c.is_empty() && s.is_empty() {
                return;
            }
            let Some(kind) = proto::detect(c, s, flow.server.port()) else {
                return;
            };
            flow.app = match kind {
                Kind::Http => App::Http(Box::default()),
                Kind::Tls => App::Tls(Box::default()),
                Kind::Ftp => App::Ftp(Default::default()),
                Kind::Pop3 => App::Pop3(Default::default()),
                Kind::Imap => App::Imap(Default::default()),
                Kind::Smtp => App::Smtp(Default::default()),
                Kind::Telnet => App::Telnet(Box::default()),
                Kind::Postgres => App::Postgres(Box::default()),
                Kind::Redis => App::Redis(Default::default()),
                Kind::Ldap => App::Ldap(Default::default()),
                Kind::Mqtt => App::Mqtt(Default::default()),
                Kind::Socks => App::Socks(Box::default()),
                Kind::Mysql => App::Mysql(Box::default()),
                Kind::Irc => App::Irc(Default::default()),
                Kind::Sip => App::Sip(Default::default()),
                Kind::Smb => App::Smb(Box::default()),
                Kind::DceRpc => App::DceRpc(Box::default()),
                Kind::Kerberos => App::Kerberos(Box::default()),
                Kind::Vnc => App::Vnc(Box::default()),
                Kind::Tds => App::Tds(Box::default()),
                Kind::Other => App::Other,
            };
            bump(&mut self.sum.flows_by_proto, flow.app.kind_name());
        }
        let [to_server, to_client] = &mut flow.half;
        let mut hits: Vec<Hit> = Vec::new();
        let mut now_tls = false;
        let mut tunnel = false;
        match &mut flow.app {
            App::Undecided => return,
            App::Other => {
                to_server.data.clear();
                to_client.data.clear();
            }
            App::Http(h) => {
                if std::mem::take(&mut to_server.gap) {
                    h.client_gap();
                }
                if std::mem::take(&mut to_client.gap) {
                    h.server_gap();
                }
                let mut co = http::ClientOut::default();
                h.client(&mut to_server.data, ts, &self.cfg.fields, &mut co);
                self.sum.http_requests += co.requests;
                for e in co.errors {
                    bump(&mut self.sum.parse_errors, &format!("http: {e}"));
                }
                hits = co.hits;
                for l in h.server(&mut to_client.data, ts) {
                    if self.latency.len() >= MAX_TIMED_SERVERS
                        && !self.latency.contains_key(&flow.server)
                    {
                        self.sum.latency_untimed += 1;
                        continue;
                    }
                    let hist = self.latency.entry(flow.server).or_insert_with(|| {
                        // Sized by the largest latency recorded: 16 KB up to
                        // 2 ms, 190 KB at most (fixed bounds up to an hour
                        // took 190 KB per server: a capture of 5000 small
                        // HTTP exchanges needed 935 MB).
                        let mut h = Histogram::new_with_bounds(1, 2, 3).expect("valid bounds");
                        h.auto(true);
                        h
                    });
                    let _ = hist.record((l as u64).clamp(1, 3_600_000_000));
                }
            }
            App::Tls(t) => {
                match t.client.feed(&mut to_server.data) {
                    Ok(Some((1, body))) => match tls::parse_client_hello(&body) {
                        Ok(ch) => t.hello = Some(ch),
                        Err(e) => bump(&mut self.sum.parse_errors, &format!("tls: {e}")),
                    },
                    Ok(_) => {}
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("tls: {e}")),
                }
                match t.server.feed(&mut to_client.data) {
                    Ok(Some((2, body))) => match tls::parse_server_hello(&body) {
                        Ok(sh) => t.server_hello = Some(sh),
                        Err(e) => bump(&mut self.sum.parse_errors, &format!("tls: {e}")),
                    },
                    Ok(_) => {}
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("tls: {e}")),
                }
            }
            App::Telnet(t) => {
                t.server(&to_client.data);
                to_client.data.clear();
                hits = t.client(&to_server.data);
                to_server.data.clear();
            }
            App::Postgres(p) => {
                to_server.gap = false;
                to_client.gap = false;
                match p.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("postgres: {e}")),
                }
                now_tls = p.tls;
            }
            App::Redis(r) => {
                to_client.data.clear();
                if std::mem::take(&mut to_server.gap) {
                    // Resynchronise at the next command.
                    *r = redis::Redis::default();
                    to_server.data.clear();
                }
                match r.client(&mut to_server.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("redis: {e}")),
                }
            }
            App::Ldap(l) => {
                if std::mem::take(&mut to_server.gap) | std::mem::take(&mut to_client.gap) {
                    *l = ldap::Ldap::default();
                    to_server.data.clear();
                    to_client.data.clear();
                }
                // The server's NTLM challenge first: the client's answer
                // to it may be in the same round.
                if let Err(e) = l.server(&mut to_client.data) {
                    bump(&mut self.sum.parse_errors, &format!("ldap: {e}"));
                }
                match l.client(&mut to_server.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("ldap: {e}")),
                }
                now_tls = l.tls;
            }
            App::Sip(p) => {
                to_client.data.clear();
                if std::mem::take(&mut to_server.gap) {
                    // Resynchronise at the next message.
                    to_server.data.clear();
                }
                match p.client(&mut to_server.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("sip: {e}")),
                }
            }
            App::Kerberos(k) => {
                for (half, bytes) in [
                    (&mut k.client, &mut *to_server),
                    (&mut k.server, &mut *to_client),
                ] {
                    if std::mem::take(&mut bytes.gap) {
                        half.gap();
                    }
                    if let Err(e) = half.feed(&mut bytes.data, &mut hits) {
                        bump(&mut self.sum.parse_errors, &format!("kerberos: {e}"));
                    }
                }
            }
            App::Mqtt(m) => {
                to_client.data.clear();
                match m.client(&mut to_server.data) {
                    Ok(h) => hits.extend(h),
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("mqtt: {e}")),
                }
            }
            App::Mysql(m) => {
                to_server.gap = false;
                to_client.gap = false;
                match m.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("mysql: {e}")),
                }
                now_tls = m.tls;
            }
            App::Vnc(v) => {
                // A gap loses the handshake's framing: not read further (a
                // response already read is reported when the flow ends).
                if std::mem::take(&mut to_server.gap) | std::mem::take(&mut to_client.gap) {
                    v.gap();
                }
                match v.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("vnc: {e}")),
                }
                now_tls = v.tls;
            }
            App::Tds(p) => {
                // A gap loses the packet framing: not read further.
                if std::mem::take(&mut to_server.gap) | std::mem::take(&mut to_client.gap) {
                    p.gap();
                }
                match p.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("mssql: {e}")),
                }
            }
            App::Smb(p) => {
                // A gap loses the NetBIOS framing: the flow is not read
                // further (guessing where the next message starts is
                // guesswork).
                if std::mem::take(&mut to_server.gap) | std::mem::take(&mut to_client.gap) {
                    p.gap();
                }
                match p.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("smb: {e}")),
                }
            }
            App::DceRpc(p) => {
                // As for SMB: a gap loses the PDU framing.
                if std::mem::take(&mut to_server.gap) | std::mem::take(&mut to_client.gap) {
                    p.gap();
                }
                match p.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("dcerpc: {e}")),
                }
            }
            App::Socks(p) => {
                to_server.gap = false;
                to_client.gap = false;
                match p.feed(&mut to_server.data, &mut to_client.data) {
                    Ok(h) => hits = h,
                    Err(e) => bump(&mut self.sum.parse_errors, &format!("socks: {e}")),
                }
                tunnel = p.tunnel;
            }
            App::Ftp(_) | App::Pop3(_) | App::Imap(_) | App::Smtp(_) | App::Irc(_) => {
                to_server.gap = false;
                mail_server_lines(
                    &mut flow.app,
                    &mut to_client.data,
                    &mut self.sum.parse_errors,
                );
                let mut at = 0;
                loop {
                    let rest = &to_server.data[at..];
                    let starttls = match &flow.app {
                        App::Ftp(p) => p.starttls,
                        App::Pop3(p) => p.starttls,
                        App::Imap(p) => p.starttls,
                        App::Smtp(p) => p.starttls,
                        App::Irc(p) => p.starttls,
                        _ => false,
                    };
                    if starttls && rest.starts_with(&[0x16, 0x03]) {
                        // The server agreed: the rest is the TLS session.
                        now_tls = true;
                        break;
                    }
                    let Some(i) = memchr::memchr(b'\n', rest) else {
                        break;
                    };
                    let line = proto::trim_crlf(&rest[..i]);
                    let tls = proto::asks_for_tls(line);
                    let hit = match &mut flow.app {
                        App::Ftp(p) => {
                            p.starttls |= tls;
                            p.client_line(line)
                        }
                        App::Pop3(p) => {
                            p.starttls |= tls;
                            p.client_line(line)
                        }
                        App::Imap(p) => {
                            p.starttls |= tls;
                            p.client_line(line)
                        }
                        App::Smtp(p) => {
                            p.starttls |= tls;
                            p.client_line(line)
                        }
                        App::Irc(p) => {
                            p.starttls |= tls;
                            p.client_line(line)
                        }
                        _ => None,
                    };
                    hits.extend(hit);
                    mail_error(&mut flow.app, &mut self.sum.parse_errors);
                    at += i + 1;
                }
                to_server.data.drain(..at);
                if !now_tls && to_server.data.len() > 64 * 1024 {
                    to_server.data.clear();
                }
            }
        }
        discard_unread(&mut flow.app, &mut flow.half);
        for h in hits {
            self.credential(flow.client, flow.server, ts, h, out);
        }
        if tunnel {
            // The proxy granted the request: what follows is the tunnelled
            // protocol, detected and parsed like any other.
            flow.app = App::Undecided;
            self.process(flow, ts, out);
        }
        if now_tls {
            // Encryption was agreed on inside the protocol: the rest of the
            // flow is a TLS session, reported when the flow ends.
            flow.app = App::Tls(Box::default());
            bump(&mut self.sum.flows_by_proto, "tls");
            self.process(flow, ts, out);
        }
    }

    pub(super) fn credential(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        ts: i64,
        h: Hit,
        out: &mut Vec<Finding>,
    ) {
        self.sum.credential_sightings += 1;
        if self.cfg.dedup && !self.seen.first(server, &h) {
            return;
        }
        self.sum.credentials += 1;
        bump(&mut self.sum.credentials_by_proto, h.proto.as_str());
        out.push(Finding::Credential(Credential {
            ts,
            client,
            server,
            proto: h.proto,
            user: h.user,
            password: h.password,
            detail: h.detail,
            hash: h.hash,
        }));
    }

    /// A flow left the table: report its TLS session, or a login (VNC,
    /// SMB, DCE-RPC, PostgreSQL, MySQL, MSSQL) whose result was not seen.
    pub(super) fn finish_flow(&mut self, mut flow: Flow<App>, out: &mut Vec<Finding>) {
        let late = match &mut flow.app {
            App::Vnc(v) => v.finish().into_iter().collect(),
            App::Smb(p) => p.finish(),
            App::DceRpc(p) => p.finish(),
            App::Postgres(p) => p.finish().into_iter().collect(),
            App::Mysql(m) => m.finish().into_iter().collect(),
            App::Tds(p) => p.finish().into_iter().collect(),
            _ => Vec::new(),
        };
        for h in late {
            self.credential(flow.client, flow.server, flow.last_ts, h, out);
        }
        if let App::Undecided = flow.app {
            let what = if flow.payload_bytes == 0 {
                "no-payload"
            } else {
                "undecided"
            };
            bump(&mut self.sum.flows_by_proto, what);
        }
        let App::Tls(t) = flow.app else {
            return;
        };
        let hello = t.hello.unwrap_or_default();
        let offered = if hello.versions.is_empty() && hello.legacy_version != 0 {
            vec![hello.legacy_version]
        } else {
            hello.versions
        };
        let mut alpn = hello.alpn;
        if let Some(chosen) = t.server_hello.as_ref().and_then(|s| s.alpn.clone()) {
            alpn = vec![chosen];
        }
        let s = TlsSession {
            ts: flow.first_ts,
            client: flow.client,
            server: flow.server,
            sni: hello.sni,
            offered,
            chosen: t.server_hello.map(|s| s.version),
            alpn,
            bytes: flow.payload_bytes,
        };
        self.sum.tls_sessions += 1;
        let v = s
            .version()
            .map_or_else(|| "unknown".to_string(), tls::version_name);
        bump(&mut self.sum.tls_by_version, &v);
        bump(
            &mut self.sum.tls_by_sni,
            s.sni.as_deref().unwrap_or("(none)"),
        );
        out.push(Finding::Tls(s));
    }
}
