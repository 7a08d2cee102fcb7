//! TLS for runnel's own protocol client, from the librdkafka properties a user already gives
//! the rdkafka-based commands: `ssl.ca.location` (PEM; the system's authorities when absent),
//! `ssl.certificate.location` and `ssl.key.location` (a client certificate, for mTLS), and
//! `ssl.endpoint.identification.algorithm` (`https`, the default, checks the broker's name;
//! `none` does not).

use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Where Debian (and most Linux systems) keep the trusted authorities, as librdkafka probes.
const SYSTEM_AUTHORITIES: [&str; 3] =
    ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

/// The rustls client configuration the `ssl.*` properties describe (`get` reads one).
pub fn client_config(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    if get("enable.ssl.certificate.verification").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        bail!(
            "enable.ssl.certificate.verification=false: runnel's protocol client always checks the broker's \
             certificate; give its authority with -X ssl.ca.location=FILE"
        );
    }
    let roots = authorities(get("ssl.ca.location").as_deref())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .context("set up the broker certificate checks")?;
    let check_name = match get("ssl.endpoint.identification.algorithm").as_deref() {
        None | Some("https") => true,
        Some("none") | Some("") => false,
        Some(other) => bail!("ssl.endpoint.identification.algorithm={other}: expected https or none"),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(BrokerVerifier { inner: verifier, check_name }));
    let config = match (get("ssl.certificate.location"), get("ssl.key.location")) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(&cert)
                .with_context(|| format!("read ssl.certificate.location {cert}"))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("ssl.certificate.location {cert}: not a PEM certificate"))?;
            let key = PrivateKeyDer::from_pem_file(&key)
                .with_context(|| format!("ssl.key.location {key}: no unencrypted PEM private key"))?;
            builder.with_client_auth_cert(chain, key).context("the client key does not fit its certificate")?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => bail!("a client certificate needs both -X ssl.certificate.location=FILE and -X ssl.key.location=FILE"),
    };
    Ok(Arc::new(config))
}

fn authorities(location: Option<&str>) -> anyhow::Result<RootCertStore> {
    let path = match location {
        Some(path) => path.to_string(),
        None => SYSTEM_AUTHORITIES
            .iter()
            .find(|p| std::path::Path::new(p).exists())
            .map(|p| p.to_string())
            .ok_or_else(|| anyhow!("no system certificate authorities found; give -X ssl.ca.location=FILE"))?,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&path).with_context(|| format!("read ssl.ca.location {path}"))? {
        let cert = cert.with_context(|| format!("ssl.ca.location {path}: not a PEM certificate"))?;
        // A system bundle may hold certificates webpki cannot use; skip those, as librdkafka does.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        bail!("ssl.ca.location {path} holds no usable certificate");
    }
    Ok(roots)
}

/// webpki's checks of the broker's certificate, with the name check left out when
/// `ssl.endpoint.identification.algorithm=none`.
#[derive(Debug)]
struct BrokerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for BrokerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The name the broker's certificate must carry: the host part of `address` (`host:port`).
pub fn server_name(address: &str) -> anyhow::Result<ServerName<'static>> {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host).trim_matches(['[', ']']);
    ServerName::try_from(host.to_string()).with_context(|| format!("{host} is not a host name TLS can check"))
}
