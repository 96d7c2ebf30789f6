//! Memory and disk sizes: the CLI's `1G` / `512M` / plain KiB, and
//! libvirt's `unit='...'` attributes.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SizeError {
    #[error("{0:?} is not a size: give a number of KiB (like virsh) or a number with a unit: 512M, 1G, 1048576K")]
    Invalid(String),
    #[error("unknown unit {unit:?} in {text:?}: use one of b, K/KiB, M/MiB, G/GiB, T/TiB, KB, MB, GB, TB")]
    Unit { text: String, unit: String },
    #[error("{0:?} is too large")]
    Overflow(String),
}

/// Bytes in one `unit`, with libvirt's meaning of unit names: `K`, `KiB`,
/// `k` are 1024; `KB` is 1000; an empty unit is `default`.
pub fn unit_bytes(unit: &str, default: u64) -> Option<u64> {
    let u = unit.trim();
    if u.is_empty() {
        return Some(default);
    }
    let lower = u.to_ascii_lowercase();
    Some(match lower.as_str() {
        "b" | "byte" | "bytes" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        "t" | "tib" => 1 << 40,
        "tb" => 1_000_000_000_000,
        "p" | "pib" => 1 << 50,
        "pb" => 1_000_000_000_000_000,
        _ => return None,
    })
}

/// A size typed on the command line, in KiB: a plain number is KiB (as in
/// virsh `setmem`), otherwise a number with a unit (`512M`, `1G`, `1.5G`).
pub fn parse_kib(text: &str) -> Result<u64, SizeError> {
    let bytes = parse_bytes(text, 1024)?;
    Ok(bytes / 1024)
}

/// A size in bytes; a plain number is counted in `default_unit` bytes.
pub fn parse_bytes(text: &str, default_unit: u64) -> Result<u64, SizeError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.matches('.').count() > 1 {
        return Err(SizeError::Invalid(text.to_string()));
    }
    let mult = unit_bytes(unit, default_unit).ok_or_else(|| SizeError::Unit {
        text: text.to_string(),
        unit: unit.to_string(),
    })?;
    if let Some((int, frac)) = num.split_once('.') {
        // Fractions only make sense with a unit: 1.5G.
        let int: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| SizeError::Overflow(text.into()))?
        };
        let digits = frac.len().min(18) as u32;
        let frac_num: u128 = if digits == 0 {
            0
        } else {
            frac[..digits as usize]
                .parse()
                .map_err(|_| SizeError::Invalid(text.into()))?
        };
        let part = frac_num * u128::from(mult) / 10u128.pow(digits);
        let value = u128::from(int) * u128::from(mult) + part;
        let value = u64::try_from(value).map_err(|_| SizeError::Overflow(text.into()))?;
        Ok(value)
    } else {
        let n: u64 = num.parse().map_err(|_| SizeError::Overflow(text.into()))?;
        n.checked_mul(mult)
            .ok_or_else(|| SizeError::Overflow(text.into()))
    }
}

/// `2097152` KiB → `2.0 GiB`.
pub fn human_kib(kib: u64) -> String {
    human_bytes(kib.saturating_mul(1024))
}

/// Bytes with a binary unit, one decimal.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_are_kib_like_virsh() {
        assert_eq!(parse_kib("1048576"), Ok(1048576));
    }

    #[test]
    fn units_are_binary_unless_spelled_decimal() {
        assert_eq!(parse_kib("1G"), Ok(1 << 20));
        assert_eq!(parse_kib("512M"), Ok(512 * 1024));
        assert_eq!(parse_kib("512MiB"), Ok(512 * 1024));
        assert_eq!(parse_kib("1.5G"), Ok(1536 * 1024));
        assert_eq!(parse_bytes("1GB", 1), Ok(1_000_000_000));
        assert_eq!(parse_bytes("3", 1), Ok(3));
    }

    #[test]
    fn junk_is_refused_with_the_accepted_forms() {
        assert!(matches!(parse_kib("lots"), Err(SizeError::Invalid(_))));
        assert!(matches!(parse_kib("1Q"), Err(SizeError::Unit { .. })));
        assert!(matches!(
            parse_kib("99999999999999999999"),
            Err(SizeError::Overflow(_))
        ));
        assert!(parse_kib("1.2.3G").is_err());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_kib(2097152), "2.0 GiB");
        assert_eq!(human_bytes(512), "512 B");
    }
}
