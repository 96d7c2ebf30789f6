//! MQTT's CONNECT packet (3.1, 3.1.1 and 5.0): the user name and password
//! flags and fields, after the client id, the v5 properties and the will.
//! Only the first packet of a connection is read.

use super::Hit;
use crate::sniff::finding::Proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MqttError {
    #[error("first packet is not CONNECT")]
    NotConnect,
    #[error("remaining length malformed")]
    Length,
    #[error("CONNECT packet truncated or malformed")]
    Malformed,
}

/// A CONNECT larger than this is not read (the packet is held until
/// complete).
const MAX_CONNECT: usize = 64 * 1024;

/// The remaining-length varint: (value, its size); `None` when incomplete.
fn varint(b: &[u8]) -> Result<Option<(usize, usize)>, MqttError> {
    let mut v = 0usize;
    for (i, &c) in b.iter().enumerate().take(4) {
        v |= ((c & 0x7f) as usize) << (7 * i);
        if c & 0x80 == 0 {
            return Ok(Some((v, i + 1)));
        }
    }
    if b.len() >= 4 {
        return Err(MqttError::Length);
    }
    Ok(None)
}

/// A client's first bytes: CONNECT with the MQTT protocol name.
pub fn looks_like(b: &[u8]) -> bool {
    if b.first() != Some(&0x10) {
        return false;
    }
    match varint(&b[1..]) {
        Ok(Some((_, n))) => {
            let v = &b[1 + n..];
            v.starts_with(b"\0\x04MQTT") || v.starts_with(b"\0\x06MQIsdp")
        }
        _ => false,
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MqttError> {
        if self.0.len() < n {
            return Err(MqttError::Malformed);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, MqttError> {
        Ok(self.take(1)?[0])
    }
    /// A two-byte length and that many bytes.
    fn string(&mut self) -> Result<&'a [u8], MqttError> {
        let l = self.take(2)?;
        self.take(u16::from_be_bytes([l[0], l[1]]) as usize)
    }
    /// v5 properties: a varint length and that many bytes, skipped.
    fn properties(&mut self) -> Result<(), MqttError> {
        let (len, n) = varint(self.0)?.ok_or(MqttError::Malformed)?;
        self.take(n + len).map(|_| ())
    }
}

/// The credential of a complete CONNECT packet's body (after the fixed
/// header); `Ok(None)` when it has no user name or password.
pub fn connect_body(body: &[u8]) -> Result<Option<Hit>, MqttError> {
    let mut r = Reader(body);
    let name = r.string()?;
    let level = r.u8()?;
    let flags = r.u8()?;
    r.take(2)?; // keep alive
    if level == 5 {
        r.properties()?;
    }
    let client_id = r.string()?;
    if flags & 0x04 != 0 {
        if level == 5 {
            r.properties()?;
        }
        r.string()?; // will topic
        r.string()?; // will payload
    }
    let user = if flags & 0x80 != 0 {
        Some(r.string()?)
    } else {
        None
    };
    let password = if flags & 0x40 != 0 {
        Some(r.string()?)
    } else {
        None
    };
    if user.is_none() && password.is_none() {
        return Ok(None);
    }
    let version = match (name, level) {
        (b"MQIsdp", _) | (_, 3) => "3.1",
        (_, 4) => "3.1.1",
        (_, 5) => "5.0",
        _ => "unknown version",
    };
    let mut h = Hit::new(Proto::Mqtt, user, password);
    h.detail = Some(format!(
        "CONNECT MQTT {version}, client id {}",
        String::from_utf8_lossy(client_id)
    ));
    Ok(Some(h))
}

/// The client direction: the first packet, then nothing.
#[derive(Debug, Default)]
pub struct Mqtt {
    pub done: bool,
}

impl Mqtt {
    pub fn client(&mut self, buf: &mut Vec<u8>) -> Result<Option<Hit>, MqttError> {
        if self.done {
            buf.clear();
            return Ok(None);
        }
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let r = (|| {
            if first != 0x10 {
                return Err(MqttError::NotConnect);
            }
            let Some((len, n)) = varint(&buf[1..])? else {
                return Ok(None);
            };
            if len > MAX_CONNECT {
                return Err(MqttError::Length);
            }
            let Some(body) = buf.get(1 + n..1 + n + len) else {
                return Ok(None);
            };
            self.done = true;
            connect_body(body)
        })();
        if r.is_err() {
            self.done = true;
        }
        if self.done {
            buf.clear();
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(level: u8, will: bool, user: Option<&str>, pw: Option<&str>) -> Vec<u8> {
        let s = |v: &[u8]| {
            let mut o = (v.len() as u16).to_be_bytes().to_vec();
            o.extend_from_slice(v);
            o
        };
        let mut flags = 2;
        flags |= if will { 4 } else { 0 };
        flags |= if user.is_some() { 0x80 } else { 0 };
        flags |= if pw.is_some() { 0x40 } else { 0 };
        let mut b = s(b"MQTT");
        b.extend([level, flags, 0, 60]);
        if level == 5 {
            b.extend([3, 0x21, 0, 10]); // receive maximum
        }
        b.extend(s(b"cid-1"));
        if will {
            if level == 5 {
                b.push(0);
            }
            b.extend(s(b"will/topic"));
            b.extend(s(b"bye"));
        }
        for f in [user, pw].into_iter().flatten() {
            b.extend(s(f.as_bytes()));
        }
        let mut p = vec![0x10];
        let mut len = b.len();
        loop {
            let mut d = (len & 0x7f) as u8;
            len >>= 7;
            if len > 0 {
                d |= 0x80;
            }
            p.push(d);
            if len == 0 {
                break;
            }
        }
        p.extend(b);
        p
    }

    #[test]
    fn v311_and_v5_with_will_split_anywhere() {
        for (level, will) in [(4, false), (5, true), (3, true)] {
            let pkt = connect(level, will, Some("amy"), Some("pw"));
            assert!(level == 3 || looks_like(&pkt));
            let mut m = Mqtt::default();
            let mut buf = Vec::new();
            let mut hits = Vec::new();
            for c in pkt.chunks(3) {
                buf.extend_from_slice(c);
                hits.extend(m.client(&mut buf).unwrap());
            }
            assert_eq!(hits.len(), 1, "level {level}");
            assert_eq!(hits[0].user.as_deref(), Some(&b"amy"[..]));
            assert_eq!(hits[0].password.as_deref(), Some(&b"pw"[..]));
        }
        assert_eq!(connect_body(&connect(4, false, None, None)[2..]), Ok(None));
    }

    #[test]
    fn malformed_is_an_error() {
        let mut m = Mqtt::default();
        assert_eq!(
            m.client(&mut b"\x30\x00".to_vec()),
            Err(MqttError::NotConnect)
        );
        let mut m = Mqtt::default();
        assert_eq!(
            m.client(&mut b"\x10\xff\xff\xff\xff".to_vec()),
            Err(MqttError::Length)
        );
        let mut pkt = connect(4, false, Some("amy"), Some("pw"));
        pkt[1] -= 2;
        pkt.truncate(pkt.len() - 2);
        let mut m = Mqtt::default();
        assert_eq!(m.client(&mut pkt), Err(MqttError::Malformed));
    }
}
