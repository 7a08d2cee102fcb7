//! A listener the broker serves, as its connections see it: its name and security protocol,
//! the address its clients are told (Metadata answers each client with the endpoint of the
//! listener it came through, as Kafka does), its SASL mechanisms and its TLS acceptor.

use std::net::SocketAddr;

use crate::listener_config::{ClientAuth, ListenerConfig, SecurityProtocol};
use crate::security::tls::{self, TlsError};

/// One listener, ready to serve.
pub struct Listener {
    /// Its name in `listeners`.
    pub name: String,
    /// How its clients connect.
    pub protocol: SecurityProtocol,
    /// Host and port given to its clients in Metadata, FindCoordinator and DescribeCluster.
    pub endpoint: (String, u16),
    /// The SASL mechanisms it offers (empty without SASL).
    pub sasl_mechanisms: Vec<String>,
    /// Its TLS handshakes, when it uses TLS.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Whether it asks clients for certificates.
    pub client_auth: ClientAuth,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("name", &self.name)
            .field("protocol", &self.protocol)
            .field("endpoint", &self.endpoint)
            .field("sasl_mechanisms", &self.sasl_mechanisms)
            .field("client_auth", &self.client_auth)
            .finish()
    }
}

impl Listener {
    /// The listener `config` describes, bound at `bound`; reads its TLS files.
    pub fn open(config: &ListenerConfig, bound: SocketAddr) -> Result<Listener, TlsError> {
        let tls = match &config.tls {
            Some(settings) => Some(tokio_rustls::TlsAcceptor::from(tls::server_config(&config.name, settings)?)),
            None => None,
        };
        let endpoint = match &config.advertised {
            // Port 0 in advertised.listeners means the bound port, as for an unadvertised one.
            Some((host, 0)) => (host.clone(), bound.port()),
            Some(endpoint) => endpoint.clone(),
            None if bound.ip().is_unspecified() => ("localhost".to_string(), bound.port()),
            None => (bound.ip().to_string(), bound.port()),
        };
        Ok(Listener {
            name: config.name.clone(),
            protocol: config.protocol,
            endpoint,
            sasl_mechanisms: config.sasl_mechanisms.clone(),
            tls,
            client_auth: config.tls.as_ref().map_or(ClientAuth::None, |t| t.client_auth),
        })
    }
}
