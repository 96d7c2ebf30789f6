//! TLS for a console that listens beyond loopback: a certificate given with
//! `--cert/--key`, or a self-signed one made at start whose SHA-256
//! fingerprint is printed so the user can check what the browser shows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {message}", .path.display())]
    File { path: PathBuf, message: String },
    #[error("making a self-signed certificate: {0}")]
    Generate(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A ready server configuration and the leaf certificate's fingerprint.
pub struct Tls {
    pub config: Arc<rustls::ServerConfig>,
    /// `AB:CD:...`, SHA-256 of the DER certificate.
    pub fingerprint: String,
    pub self_signed: bool,
}

pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Tls, TlsError> {
    let fingerprint = fingerprint(certs.first().map(|c| c.as_ref()).unwrap_or_default());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        config: Arc::new(config),
        fingerprint,
        self_signed: false,
    })
}

/// Reads a PEM certificate chain and its private key.
pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
    let file_err = |path: &Path, message: String| TlsError::File {
        path: path.to_path_buf(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_err(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_err(cert, "no PEM certificate in it".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_err(key, format!("no usable PEM private key: {e}")))?;
    server_config(certs, key_der)
}

/// A new self-signed certificate for `names` (DNS names or IP addresses).
pub fn self_signed(names: &[String]) -> Result<Tls, TlsError> {
    let ck = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let der = ck.cert.der().clone();
    let key = PrivateKeyDer::try_from(ck.signing_key.serialize_der())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut t = server_config(vec![der], key)?;
    t.self_signed = true;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificates_load_and_have_a_fingerprint() {
        let t = self_signed(&["127.0.0.1".into(), "lab.test".into()]).unwrap();
        assert!(t.self_signed);
        assert_eq!(t.fingerprint.len(), 32 * 3 - 1);
        assert!(t
            .fingerprint
            .bytes()
            .all(|b| b == b':' || b.is_ascii_hexdigit()));
    }

    #[test]
    fn missing_or_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let e = load(&empty, &empty).err().unwrap().to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = load(&dir.path().join("nope.pem"), &empty)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("nope.pem"), "{e}");
    }
}
