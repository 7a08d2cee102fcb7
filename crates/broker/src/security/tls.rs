//! TLS for a listener: the rustls server configuration from Kafka's PEM settings, and the
//! principal of a client certificate (mTLS), named as Kafka names it: `User:` and the
//! certificate's subject in RFC 2253 form (`CN=alice,OU=eng,O=example`), the default of
//! `ssl.principal.mapping.rules`.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::listener_config::{ClientAuth, Pem, TlsSettings};

/// Why a listener's TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("listener {listener}: {reason}")]
pub struct TlsError {
    /// The listener's name.
    pub listener: String,
    /// What is wrong and what to do.
    pub reason: String,
}

/// The rustls configuration of listener `listener` from `settings`, its files read now.
pub fn server_config(listener: &str, settings: &TlsSettings) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let error = |reason: String| TlsError { listener: listener.to_string(), reason };
    let keystore = read(&settings.keystore).map_err(error)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&keystore)
        .collect::<Result<_, _>>()
        .map_err(|e| error(format!("{}: not a PEM certificate chain: {e}", describe(&settings.keystore))))?;
    if chain.is_empty() {
        return Err(error(format!("{} holds no certificate", describe(&settings.keystore))));
    }
    let key_pem = match &settings.key {
        Some(key) => read(key).map_err(error)?,
        None => keystore,
    };
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        let from = settings.key.as_ref().unwrap_or(&settings.keystore);
        error(format!("{}: no unencrypted private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}", describe(from)))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| error(format!("TLS versions: {e}")))?;
    let builder = match (settings.client_auth, &settings.truststore) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(truststore)) => {
            let pem = read(truststore).map_err(error)?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| error(format!("{}: not a PEM certificate: {e}", describe(truststore))))?;
                roots
                    .add(cert)
                    .map_err(|e| error(format!("{}: a certificate cannot be trusted: {e}", describe(truststore))))?;
            }
            if roots.is_empty() {
                return Err(error(format!("{} holds no certificate", describe(truststore))));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match auth {
                ClientAuth::Requested => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier.build().map_err(|e| error(format!("client certificate checks: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| error(format!("{}: the key does not fit the certificate: {e}", describe(&settings.keystore))))?;
    Ok(Arc::new(config))
}

fn read(pem: &Pem) -> Result<Vec<u8>, String> {
    match pem {
        Pem::File(path) => std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display())),
        Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
    }
}

fn describe(pem: &Pem) -> String {
    match pem {
        Pem::File(path) => path.display().to_string(),
        Pem::Inline(_) => "the PEM text given inline".to_string(),
    }
}

/// The principal of a client that showed `certificate` (its end-entity certificate):
/// `User:` and the subject in RFC 2253 form, as Kafka's default principal builder names it.
pub fn certificate_principal(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    Some(format!("User:{}", rfc2253(parsed.subject())))
}

/// A distinguished name as Java's `X500Principal.getName()` writes it: the last RDN first,
/// attributes by their short names, special characters escaped.
fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let oid = attribute.attr_type().to_id_string();
                    let key = short_name(&oid).map(str::to_string).unwrap_or(oid);
                    let value = attribute.as_str().map(escape).unwrap_or_else(|_| {
                        let hex: String = attribute.attr_value().data.iter().map(|b| format!("{b:02x}")).collect();
                        format!("#{hex}")
                    });
                    format!("{key}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// The keywords RFC 2253 (and Java) use for attribute types.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 2253 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_as_rfc_2253_says() {
        assert_eq!(escape("alice"), "alice");
        assert_eq!(escape("Smith, John"), "Smith\\, John");
        assert_eq!(escape("#1 "), "\\#1\\ ");
        assert_eq!(escape("a+b;c<d>\"e\\"), "a\\+b\\;c\\<d\\>\\\"e\\\\");
    }

    /// `openssl req -x509 -subj "/C=US/O=Example, Inc./OU=eng/CN=alice"`; openssl's
    /// `-nameopt RFC2253` prints its subject as `CN=alice,OU=eng,O=Example\, Inc.,C=US`.
    const ALICE: &str = "-----BEGIN CERTIFICATE-----
MIIB3jCCAYOgAwIBAgIUdoVaijKYgwv3zs3a4wxFl0J+dSQwCgYIKoZIzj0EAwIw
QzELMAkGA1UEBhMCVVMxFjAUBgNVBAoMDUV4YW1wbGUsIEluYy4xDDAKBgNVBAsM
A2VuZzEOMAwGA1UEAwwFYWxpY2UwIBcNMjYxMTI4MDgxNjAwWhgPMjEyNjExMDQw
ODE2MDBaMEMxCzAJBgNVBAYTAlVTMRYwFAYDVQQKDA1FeGFtcGxlLCBJbmMuMQww
CgYDVQQLDANlbmcxDjAMBgNVBAMMBWFsaWNlMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAE7OHHYoGlOGEVwkupfyP8SIqEcwwoCjGZJNbfnbTd2NIV8jkrxQ9cgQzU
QB25/pgOn0SA5H4tmkzvj0VGYbnx7KNTMFEwHQYDVR0OBBYEFIFceRRRJHSSr9IP
GvBgTZNaDdR1MB8GA1UdIwQYMBaAFIFceRRRJHSSr9IPGvBgTZNaDdR1MA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAIw/tBGuCjpHhHhbQDyRnFad
FmjxsVnrNGsY+3xxFcRcAiEAnGy/X0/i3kLbciHRX+hpoX8P3XXJ+weQIsN0J7id
wU4=
-----END CERTIFICATE-----
";

    #[test]
    fn a_certificate_principal_is_its_subject_last_rdn_first() {
        let der = CertificateDer::from_pem_slice(ALICE.as_bytes()).expect("pem");
        assert_eq!(certificate_principal(&der).as_deref(), Some("User:CN=alice,OU=eng,O=Example\\, Inc.,C=US"));
    }

    #[test]
    fn missing_files_and_bad_pem_say_which_listener_and_file() {
        let settings = TlsSettings {
            keystore: Pem::File("/nonexistent/broker.pem".into()),
            key: None,
            truststore: None,
            client_auth: ClientAuth::None,
        };
        let e = server_config("SSL", &settings).expect_err("missing").to_string();
        assert!(e.starts_with("listener SSL: read /nonexistent/broker.pem"), "{e}");
        let garbage = TlsSettings { keystore: Pem::Inline("not pem".into()), ..settings };
        let e = server_config("SSL", &garbage).expect_err("garbage").to_string();
        assert!(e.contains("holds no certificate"), "{e}");
    }
}
