//! The little of BER (X.690) that SNMP, LDAP and Kerberos need: one
//! element at a time, definite lengths only, every length checked against
//! the input.

/// Why bytes are not the BER element expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    #[error("BER length malformed or past the data")]
    BadLength,
    #[error("unexpected BER tag {0:#04x}")]
    Tag(u8),
}

pub const SEQUENCE: u8 = 0x30;
pub const INTEGER: u8 = 0x02;
pub const OCTETS: u8 = 0x04;

/// One BER element: its tag and contents; `rest` is what follows it.
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub rest: &'a [u8],
}

/// The header of the element at the front of `b`: tag, header size and
/// content length (which may exceed what `b` holds).
pub fn header(b: &[u8]) -> Result<Option<(u8, usize, usize)>, BerError> {
    let [tag, first, rest @ ..] = b else {
        return Ok(None);
    };
    if *first < 0x80 {
        return Ok(Some((*tag, 2, *first as usize)));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return Err(BerError::BadLength);
    }
    if rest.len() < n {
        return Ok(None);
    }
    let len = rest[..n].iter().fold(0usize, |a, &d| (a << 8) | d as usize);
    Ok(Some((*tag, 2 + n, len)))
}

pub fn tlv(b: &[u8]) -> Result<Tlv<'_>, BerError> {
    let (tag, hlen, len) = header(b)?.ok_or(BerError::BadLength)?;
    let b = &b[hlen..];
    if len > b.len() {
        return Err(BerError::BadLength);
    }
    Ok(Tlv {
        tag,
        value: &b[..len],
        rest: &b[len..],
    })
}

pub fn expect(b: &[u8], tag: u8) -> Result<Tlv<'_>, BerError> {
    let t = tlv(b)?;
    if t.tag != tag {
        return Err(BerError::Tag(t.tag));
    }
    Ok(t)
}

/// A non-negative INTEGER's value (up to 8 bytes).
pub fn uint(v: &[u8]) -> Result<u64, BerError> {
    if v.is_empty() || v.len() > 8 {
        return Err(BerError::BadLength);
    }
    Ok(v.iter().fold(0u64, |a, &d| (a << 8) | d as u64))
}

/// A signed INTEGER's value (up to 8 bytes, two's complement): Kerberos
/// encryption types and name types may be negative.
pub fn int(v: &[u8]) -> Result<i64, BerError> {
    if v.is_empty() || v.len() > 8 {
        return Err(BerError::BadLength);
    }
    let sign = if v[0] & 0x80 != 0 { -1 } else { 0 };
    Ok(v.iter().fold(sign, |a: i64, &d| (a << 8) | d as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_lengths_checked() {
        let t = tlv(b"\x04\x02ab!").unwrap();
        assert_eq!((t.tag, t.value, t.rest), (4, &b"ab"[..], &b"!"[..]));
        let mut long = vec![0x04, 0x82, 0x01, 0x00];
        long.extend([b'x'; 256]);
        assert_eq!(tlv(&long).unwrap().value.len(), 256);
        assert_eq!(header(&long[..3]).unwrap(), None);
        assert_eq!(tlv(&long[..100]).err(), Some(BerError::BadLength));
        assert_eq!(tlv(b"\x04\x85\0\0\0\0\0").err(), Some(BerError::BadLength));
        assert_eq!(
            expect(b"\x02\x01\x00", OCTETS).err(),
            Some(BerError::Tag(2))
        );
    }

    #[test]
    fn signed_integers() {
        assert_eq!(int(b"\x17"), Ok(23));
        assert_eq!(int(b"\x00\x80"), Ok(128));
        assert_eq!(int(b"\x80"), Ok(-128));
        assert_eq!(int(b"\xff\x7f"), Ok(-129));
        assert_eq!(int(b""), Err(BerError::BadLength));
        assert_eq!(int(&[1; 9]), Err(BerError::BadLength));
    }
}
