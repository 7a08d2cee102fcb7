//! Kafka's listener settings: `listeners` (several at once, each `NAME://host:port`),
//! `advertised.listeners`, `listener.security.protocol.map`, and each listener's SASL
//! mechanisms and TLS files, given once for all (`ssl.keystore.location`) or for one listener
//! (`listener.name.<name>.ssl.keystore.location`), as Kafka reads them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::ConfigError;

/// How a listener's clients connect (Kafka's security protocols).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No authentication, no encryption.
    Plaintext,
    /// SASL authentication, no encryption.
    SaslPlaintext,
    /// TLS; the client is who its certificate says when it shows one (mTLS).
    Ssl,
    /// SASL authentication inside TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name for it.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether clients sign in with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }

    /// Whether the connection is TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    fn parse(name: &str) -> Option<SecurityProtocol> {
        match name {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }
}

/// Whether a TLS listener asks clients for a certificate (`ssl.client.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// It does not.
    None,
    /// It asks; a client without one connects as `User:ANONYMOUS` (or its SASL user).
    Requested,
    /// A client without a certificate the truststore vouches for is refused.
    Required,
}

/// PEM text, from a file or given inline in the properties (Kafka's KIP-651 names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    /// A file to read at start.
    File(PathBuf),
    /// The PEM text itself.
    Inline(String),
}

/// A TLS listener's certificate, key and trusted authorities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The private key and certificate chain (`ssl.keystore.location`, a PEM file holding
    /// both), or the chain alone when the key is given apart (`ssl.keystore.certificate.chain`).
    pub keystore: Pem,
    /// The private key when given apart from the chain (`ssl.keystore.key`).
    pub key: Option<Pem>,
    /// Authorities that vouch for client certificates (`ssl.truststore.location` or
    /// `ssl.truststore.certificates`).
    pub truststore: Option<Pem>,
    /// `ssl.client.auth`.
    pub client_auth: ClientAuth,
}

/// One listener as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Its name (`PLAINTEXT`, `CLIENT`, ...): what `advertised.listeners` and the
    /// `listener.name.<name>.` properties refer to.
    pub name: String,
    /// How its clients connect.
    pub protocol: SecurityProtocol,
    /// The address it binds.
    pub bind: SocketAddr,
    /// Host and port its clients are told to connect to; the bound address when not given.
    pub advertised: Option<(String, u16)>,
    /// The SASL mechanisms it offers (`sasl.enabled.mechanisms`), when it uses SASL.
    pub sasl_mechanisms: Vec<String>,
    /// Its TLS settings, when it uses TLS.
    pub tls: Option<TlsSettings>,
}

impl ListenerConfig {
    /// runnel's default: one PLAINTEXT listener on 127.0.0.1:9092.
    pub fn default_plaintext() -> ListenerConfig {
        ListenerConfig {
            name: "PLAINTEXT".to_string(),
            protocol: SecurityProtocol::Plaintext,
            bind: SocketAddr::from(([127, 0, 0, 1], 9092)),
            advertised: None,
            sasl_mechanisms: Vec::new(),
            tls: None,
        }
    }
}

/// Kafka's default `sasl.enabled.mechanisms` is GSSAPI, which runnel does not serve; runnel's is
/// both SCRAM mechanisms (PLAIN sends the password itself, so it is opt-in).
const DEFAULT_MECHANISMS: [&str; 2] = ["SCRAM-SHA-256", "SCRAM-SHA-512"];

/// Whether `name` is one of the properties read here (so the general parser neither logs it as
/// unused nor rejects it).
pub fn is_listener_property(name: &str) -> bool {
    matches!(name, "listeners" | "advertised.listeners" | "listener.security.protocol.map" | "sasl.enabled.mechanisms")
        || name.starts_with("ssl.")
        || name.starts_with("listener.name.")
}

/// The listeners `properties` describe (runnel's default PLAINTEXT listener when
/// `listeners` is absent).
pub fn parse(properties: &BTreeMap<String, String>) -> Result<Vec<ListenerConfig>, ConfigError> {
    let Some(listeners) = properties.get("listeners") else {
        let mut plain = ListenerConfig::default_plaintext();
        if let Some(advertised) = properties.get("advertised.listeners") {
            plain.advertised = Some(address_of("advertised.listeners", advertised, first_entry(advertised))?);
        }
        return Ok(vec![plain]);
    };
    let map = properties.get("listener.security.protocol.map").map(String::as_str);
    let advertised = match properties.get("advertised.listeners") {
        Some(value) => entries("advertised.listeners", value)?,
        None => Vec::new(),
    };
    let mut out: Vec<ListenerConfig> = Vec::new();
    for (name, host, port) in entries("listeners", listeners)? {
        if out.iter().any(|l| l.name == name) {
            return Err(invalid("listeners", listeners, format!("listener {name} is named twice")));
        }
        if port != 0 && out.iter().any(|l| l.bind.port() == port) {
            return Err(invalid("listeners", listeners, format!("port {port} is used by two listeners")));
        }
        let protocol = protocol_of(&name, map, listeners)?;
        let host = if host.is_empty() { "0.0.0.0".to_string() } else { host };
        let bind = format!("{host}:{port}")
            .parse()
            .or_else(|_| resolve(&host, port))
            .map_err(|_| invalid("listeners", listeners, format!("cannot resolve {host} to an address to bind")))?;
        let advertised = match advertised.iter().find(|(n, _, _)| *n == name) {
            Some((_, host, port)) => Some((host.clone(), *port)),
            // A single listener may be advertised under any name, as runnel always allowed.
            None if out.is_empty() && advertised.len() == 1 => Some((advertised[0].1.clone(), advertised[0].2)),
            None => None,
        };
        let sasl_mechanisms = if protocol.uses_sasl() { mechanisms(properties, &name)? } else { Vec::new() };
        let tls = if protocol.uses_tls() { Some(tls_settings(properties, &name)?) } else { None };
        out.push(ListenerConfig { name, protocol, bind, advertised, sasl_mechanisms, tls });
    }
    if out.is_empty() {
        return Err(invalid("listeners", listeners, "name at least one listener, as PLAINTEXT://host:port"));
    }
    if out.len() > 1
        && let Some((name, _, _)) = advertised.iter().find(|(n, _, _)| !out.iter().any(|l| l.name == *n))
    {
        let value = properties.get("advertised.listeners").map(String::as_str).unwrap_or("");
        return Err(invalid("advertised.listeners", value, format!("{name} is not in listeners")));
    }
    Ok(out)
}

/// `NAME://host:port` entries of a listener list.
fn entries(property: &str, value: &str) -> Result<Vec<(String, String, u16)>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (name, _) = entry.split_once("://").unwrap_or(("PLAINTEXT", entry));
            let (host, port) = address_of(property, value, entry)?;
            Ok((name.trim().to_string(), host, port))
        })
        .collect()
}

fn first_entry(value: &str) -> &str {
    value.split(',').next().unwrap_or("").trim()
}

/// The host and port of one `[NAME://]host:port` entry.
fn address_of(property: &str, value: &str, entry: &str) -> Result<(String, u16), ConfigError> {
    let address = entry.split_once("://").map(|(_, rest)| rest).unwrap_or(entry);
    let (host, port) =
        address.rsplit_once(':').ok_or_else(|| invalid(property, value, "expected [PROTOCOL://]host:port"))?;
    let port = port.parse().map_err(|_| invalid(property, value, "the port is not a number"))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

fn protocol_of(name: &str, map: Option<&str>, listeners: &str) -> Result<SecurityProtocol, ConfigError> {
    let protocol = match map {
        Some(map) => map
            .split(',')
            .filter_map(|pair| pair.trim().split_once(':'))
            .find(|(listener, _)| listener.trim() == name)
            .map(|(_, protocol)| protocol.trim().to_string())
            .ok_or_else(|| {
                invalid("listener.security.protocol.map", map, format!("names no protocol for listener {name}"))
            })?,
        None => name.to_string(),
    };
    SecurityProtocol::parse(&protocol).ok_or_else(|| {
        let reason = match map {
            Some(_) => format!("unknown security protocol {protocol} for listener {name}"),
            None => format!(
                "listener {name} is not a security protocol; name one of PLAINTEXT, SASL_PLAINTEXT, SSL, \
                 SASL_SSL, or map it in listener.security.protocol.map"
            ),
        };
        invalid("listeners", listeners, reason)
    })
}

/// A listener's own value of `property` (`listener.name.<name>.<property>`), else the global one.
fn setting<'a>(properties: &'a BTreeMap<String, String>, listener: &str, property: &str) -> Option<(String, &'a str)> {
    let own = format!("listener.name.{}.{property}", listener.to_ascii_lowercase());
    if let Some(value) = properties.get(&own) {
        return Some((own, value.as_str()));
    }
    properties.get(property).map(|value| (property.to_string(), value.as_str()))
}

fn mechanisms(properties: &BTreeMap<String, String>, listener: &str) -> Result<Vec<String>, ConfigError> {
    match setting(properties, listener, "sasl.enabled.mechanisms") {
        Some((name, value)) => parse_mechanisms(&name, value),
        None => Ok(DEFAULT_MECHANISMS.iter().map(|m| m.to_string()).collect()),
    }
}

/// Checks `sasl.enabled.mechanisms` even where no listener uses SASL, so a typo is caught at
/// once rather than when a SASL listener is added.
pub fn check_global_mechanisms(properties: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    match properties.get("sasl.enabled.mechanisms") {
        Some(value) => parse_mechanisms("sasl.enabled.mechanisms", value).map(|_| ()),
        None => Ok(()),
    }
}

fn parse_mechanisms(name: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    let mechanisms: Vec<String> =
        value.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_string).collect();
    if let Some(unknown) = mechanisms.iter().find(|m| !crate::security::sasl::SUPPORTED.contains(&m.as_str())) {
        return Err(invalid(
            name,
            value,
            format!("{unknown} is not served; runnel offers PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512"),
        ));
    }
    if mechanisms.is_empty() {
        return Err(invalid(name, value, "name at least one mechanism"));
    }
    Ok(mechanisms)
}

fn tls_settings(properties: &BTreeMap<String, String>, listener: &str) -> Result<TlsSettings, ConfigError> {
    for store in ["ssl.keystore.type", "ssl.truststore.type"] {
        if let Some((name, value)) = setting(properties, listener, store)
            && !value.eq_ignore_ascii_case("PEM")
        {
            return Err(invalid(
                &name,
                value,
                "runnel reads PEM files only; convert a JKS or PKCS12 store with keytool and openssl",
            ));
        }
    }
    if let Some((name, value)) = setting(properties, listener, "ssl.key.password")
        && !value.is_empty()
    {
        return Err(invalid(
            &name,
            "(hidden)",
            "encrypted private keys are not read; give the key unencrypted (PKCS#8 PEM) in a file only the broker can read",
        ));
    }
    let location = setting(properties, listener, "ssl.keystore.location");
    let chain = setting(properties, listener, "ssl.keystore.certificate.chain");
    let key = setting(properties, listener, "ssl.keystore.key");
    let (keystore, key) = match (location, chain, key) {
        (Some((_, path)), None, None) => (Pem::File(PathBuf::from(path)), None),
        (None, Some((_, chain)), Some((_, key))) => {
            (Pem::Inline(chain.to_string()), Some(Pem::Inline(key.to_string())))
        }
        (None, None, None) => {
            return Err(invalid(
                "listeners",
                properties.get("listeners").map(String::as_str).unwrap_or(""),
                format!(
                    "listener {listener} uses TLS: set ssl.keystore.location to a PEM file with its private key \
                     and certificate chain (or listener.name.{}.ssl.keystore.location)",
                    listener.to_ascii_lowercase()
                ),
            ));
        }
        _ => {
            return Err(invalid(
                "ssl.keystore.location",
                "",
                format!(
                    "listener {listener}: give either ssl.keystore.location, or both ssl.keystore.certificate.chain \
                     and ssl.keystore.key"
                ),
            ));
        }
    };
    let truststore = match (
        setting(properties, listener, "ssl.truststore.location"),
        setting(properties, listener, "ssl.truststore.certificates"),
    ) {
        (Some((_, path)), _) => Some(Pem::File(PathBuf::from(path))),
        (None, Some((_, pem))) => Some(Pem::Inline(pem.to_string())),
        (None, None) => None,
    };
    let client_auth = match setting(properties, listener, "ssl.client.auth") {
        None => ClientAuth::None,
        Some((name, value)) => match value.to_ascii_lowercase().as_str() {
            "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            _ => return Err(invalid(&name, value, "expected none, requested or required")),
        },
    };
    if client_auth != ClientAuth::None && truststore.is_none() {
        return Err(invalid(
            "ssl.client.auth",
            "required",
            format!(
                "listener {listener} asks for client certificates: set ssl.truststore.location to the PEM file of the authorities that sign them"
            ),
        ));
    }
    Ok(TlsSettings { keystore, key, truststore, client_auth })
}

fn invalid(name: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name: name.to_string(), value: value.to_string(), reason: reason.into() }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, std::io::Error> {
    use std::net::ToSocketAddrs;
    (host, port).to_socket_addrs()?.next().ok_or_else(|| std::io::Error::other("no address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_properties;

    fn listeners(text: &str) -> Result<Vec<ListenerConfig>, ConfigError> {
        parse(&parse_properties(text))
    }

    #[test]
    fn several_listeners_each_with_its_protocol_and_advertised_address() {
        let parsed = listeners(
            "listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9094,INTERNAL://:9095\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,INTERNAL:SSL\n\
             advertised.listeners=PLAINTEXT://localhost:9092,SASL_SSL://broker.example:9094\n\
             ssl.keystore.type=PEM\nssl.keystore.location=/etc/runnel/broker.pem\n\
             listener.name.internal.ssl.keystore.location=/etc/runnel/internal.pem\n\
             listener.name.internal.ssl.truststore.location=/etc/runnel/ca.pem\n\
             listener.name.internal.ssl.client.auth=required\n\
             listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512\n",
        )
        .expect("valid");
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].protocol, SecurityProtocol::Plaintext);
        assert_eq!(parsed[0].advertised, Some(("localhost".to_string(), 9092)));
        assert_eq!(parsed[1].protocol, SecurityProtocol::SaslSsl);
        assert_eq!(parsed[1].bind, "0.0.0.0:9094".parse().expect("addr"));
        assert_eq!(parsed[1].sasl_mechanisms, ["SCRAM-SHA-512"]);
        let tls = parsed[1].tls.as_ref().expect("tls");
        assert_eq!(tls.keystore, Pem::File("/etc/runnel/broker.pem".into()));
        assert_eq!(tls.client_auth, ClientAuth::None);
        assert_eq!(parsed[2].protocol, SecurityProtocol::Ssl);
        assert_eq!(parsed[2].advertised, None);
        let internal = parsed[2].tls.as_ref().expect("tls");
        assert_eq!(internal.keystore, Pem::File("/etc/runnel/internal.pem".into()));
        assert_eq!(internal.truststore, Some(Pem::File("/etc/runnel/ca.pem".into())));
        assert_eq!(internal.client_auth, ClientAuth::Required);
    }

    #[test]
    fn without_listeners_one_plaintext_listener_on_9092() {
        assert_eq!(listeners("").expect("valid"), vec![ListenerConfig::default_plaintext()]);
    }

    #[test]
    fn bad_listener_settings_say_what_to_set() {
        let no_key = listeners("listeners=SSL://:9093").expect_err("no keystore").to_string();
        assert!(no_key.contains("set ssl.keystore.location"), "{no_key}");
        let jks = listeners("listeners=SSL://:9093\nssl.keystore.type=JKS\nssl.keystore.location=/k.jks")
            .expect_err("jks")
            .to_string();
        assert!(jks.contains("PEM files only"), "{jks}");
        let mtls = listeners("listeners=SSL://:9093\nssl.keystore.location=/k.pem\nssl.client.auth=required")
            .expect_err("no truststore")
            .to_string();
        assert!(mtls.contains("ssl.truststore.location"), "{mtls}");
        let twice = listeners("listeners=PLAINTEXT://:9092,PLAINTEXT://:9093").expect_err("twice").to_string();
        assert!(twice.contains("named twice"), "{twice}");
        let port = listeners("listeners=PLAINTEXT://:9092,SASL_PLAINTEXT://:9092").expect_err("port").to_string();
        assert!(port.contains("used by two listeners"), "{port}");
        let unknown = listeners("listeners=CLIENT://:9092").expect_err("unmapped").to_string();
        assert!(unknown.contains("listener.security.protocol.map"), "{unknown}");
        let gssapi =
            listeners("listeners=SASL_SSL://:9093\nssl.keystore.location=/k.pem\nsasl.enabled.mechanisms=GSSAPI")
                .expect_err("gssapi")
                .to_string();
        assert!(gssapi.contains("GSSAPI is not served"), "{gssapi}");
        let encrypted = listeners("listeners=SSL://:9093\nssl.keystore.location=/k.pem\nssl.key.password=secret")
            .expect_err("encrypted")
            .to_string();
        assert!(encrypted.contains("unencrypted") && !encrypted.contains("secret"), "{encrypted}");
    }
}
