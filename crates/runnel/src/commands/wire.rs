//! A small Kafka protocol client for the admin requests librdkafka (and so rdkafka) does not
//! offer: ListTransactions, DescribeTransactions, DescribeProducers, the SCRAM credential
//! APIs. It speaks to any Kafka-compatible broker: each connection asks ApiVersions first,
//! speaks TLS and signs in with SASL (PLAIN or SCRAM) when librdkafka's `security.protocol`
//! says so (SSL, SASL_SSL, SASL_PLAINTEXT), and every
//! request goes at the highest version both sides know.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use runnel_broker::security::scram::{Mechanism, ScramClient, fresh_nonce};

use super::client::TIMEOUT;

/// The largest response accepted (a metadata answer for a big cluster fits many times over).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// The socket under a connection: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One connection to one broker.
pub struct Connection {
    stream: Stream,
    address: String,
    /// Highest version the broker serves, per API key.
    versions: HashMap<i16, i16>,
    correlation_id: i32,
    /// The `client.id` every request carries.
    client_id: String,
}

/// How the client signs in: librdkafka's `security.protocol`, `sasl.mechanism`,
/// `sasl.username` and `sasl.password`.
#[derive(Debug, Clone, Default)]
pub struct ClientSecurity {
    /// SASL mechanism, user and password (`None`: no SASL).
    pub sasl: Option<(String, String, String)>,
    /// TLS settings (`None`: no TLS).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl ClientSecurity {
    /// The security settings among librdkafka `properties`.
    pub fn from_properties(properties: &[(String, String)]) -> anyhow::Result<ClientSecurity> {
        let get = |key: &str| properties.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let protocol = get("security.protocol").map(|p| p.to_ascii_uppercase()).unwrap_or_else(|| "PLAINTEXT".into());
        let (sasl, tls) = match protocol.as_str() {
            "PLAINTEXT" => (false, false),
            "SASL_PLAINTEXT" => (true, false),
            "SSL" => (false, true),
            "SASL_SSL" => (true, true),
            other => bail!("security.protocol={other}: expected PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL"),
        };
        let sasl = if sasl {
            let mechanism = get("sasl.mechanism").unwrap_or_else(|| "GSSAPI".to_string());
            if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&mechanism.as_str()) {
                bail!(
                    "sasl.mechanism={mechanism}: runnel's protocol client signs in with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                );
            }
            let user = get("sasl.username").ok_or_else(|| anyhow!("SASL needs -X sasl.username=..."))?;
            let password = get("sasl.password").ok_or_else(|| anyhow!("SASL needs -X sasl.password=..."))?;
            Some((mechanism, user, password))
        } else {
            None
        };
        let tls = if tls { Some(super::client_tls::client_config(get)?) } else { None };
        Ok(ClientSecurity { sasl, tls })
    }
}

/// The broker refused the SASL credentials (SASL_AUTHENTICATION_FAILED), as opposed to not
/// answering: a wrong password, or an unknown user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SignInRefused(pub String);

/// A broker of the cluster, from Metadata.
#[derive(Debug, Clone)]
pub struct Node {
    /// Broker id.
    pub id: i32,
    /// `host:port`.
    pub address: String,
}

/// What Metadata says of the cluster and of one topic.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// Every broker.
    pub nodes: Vec<Node>,
    /// The topic's partitions: (index, leader id, error code).
    pub partitions: Vec<(i32, i32, i16)>,
    /// The topic's error code (0 when no topic was asked for).
    pub topic_error: i16,
}

impl Connection {
    /// Connects to `address` (`host:port`) as `client_id`, learns its API versions and signs
    /// in as `security` says.
    pub fn open_with(address: &str, client_id: &str, security: &ClientSecurity) -> anyhow::Result<Connection> {
        let target = address
            .to_socket_addrs()
            .with_context(|| format!("resolve {address}"))?
            .next()
            .ok_or_else(|| anyhow!("{address} resolves to no address"))?;
        let socket = TcpStream::connect_timeout(&target, TIMEOUT).with_context(|| format!("connect to {address}"))?;
        socket.set_read_timeout(Some(TIMEOUT))?;
        socket.set_write_timeout(Some(TIMEOUT))?;
        let stream = match &security.tls {
            None => Stream::Plain(socket),
            Some(config) => {
                let name = super::client_tls::server_name(address)?;
                let tls = rustls::ClientConnection::new(config.clone(), name)
                    .with_context(|| format!("start TLS with {address}"))?;
                let mut stream = rustls::StreamOwned::new(tls, socket);
                // The handshake now, so that a refused certificate reads as such.
                while stream.conn.is_handshaking() {
                    stream
                        .conn
                        .complete_io(&mut stream.sock)
                        .with_context(|| format!("TLS handshake with {address}"))?;
                }
                Stream::Tls(Box::new(stream))
            }
        };
        let mut connection = Connection {
            stream,
            address: address.to_string(),
            versions: HashMap::new(),
            correlation_id: 0,
            client_id: client_id.to_string(),
        };
        // v0 is what every broker answers, whatever it supports.
        let answer: ApiVersionsResponse = connection.send(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())?;
        if answer.error_code != 0 {
            bail!("{address} refused ApiVersions: {}", describe_code(answer.error_code));
        }
        connection.versions = answer.api_keys.iter().map(|k| (k.api_key, k.max_version)).collect();
        if let Some((mechanism, user, password)) = &security.sasl {
            connection.sign_in(mechanism, user, password)?;
        }
        Ok(connection)
    }

    /// SaslHandshake, then SaslAuthenticate with the mechanism's tokens.
    fn sign_in(&mut self, mechanism: &str, user: &str, password: &str) -> anyhow::Result<()> {
        let address = self.address.clone();
        let request = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.to_string()));
        let handshake: SaslHandshakeResponse = self.send(ApiKey::SaslHandshake, 1, &request)?;
        if handshake.error_code != 0 {
            let offered: Vec<String> = handshake.mechanisms.iter().map(|m| m.to_string()).collect();
            bail!(
                "{address} does not take SASL {mechanism}: {} (it offers {})",
                describe_code(handshake.error_code),
                offered.join(", ")
            );
        }
        let mut exchange = |token: Vec<u8>| -> anyhow::Result<Vec<u8>> {
            let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
            let answer: SaslAuthenticateResponse = self.send(ApiKey::SaslAuthenticate, 1, &request)?;
            if answer.error_code != 0 {
                let message = answer.error_message.map(|m| m.to_string()).unwrap_or_default();
                let refusal = format!("{address} refused {user}: {} {message}", describe_code(answer.error_code));
                if answer.error_code == kafka_protocol::ResponseError::SaslAuthenticationFailed.code() {
                    return Err(SignInRefused(refusal).into());
                }
                bail!("{refusal}");
            }
            Ok(answer.auth_bytes.to_vec())
        };
        match Mechanism::from_name(mechanism) {
            None => {
                exchange(format!("\0{user}\0{password}").into_bytes())?;
            }
            Some(scram) => {
                let mut client = ScramClient::new(scram, user, password, &fresh_nonce());
                let server_first = exchange(client.client_first())?;
                let last = client.client_final(&server_first).map_err(|e| anyhow!("SCRAM with {address}: {e}"))?;
                let server_final = exchange(last)?;
                client.verify_server_final(&server_final).map_err(|e| anyhow!("SCRAM with {address}: {e}"))?;
            }
        }
        Ok(())
    }

    /// Connects as `client_id` to the first of the comma-separated bootstrap servers that
    /// answers, signed in as `security` says.
    pub fn bootstrap_with(brokers: &str, client_id: &str, security: &ClientSecurity) -> anyhow::Result<Connection> {
        let mut last = None;
        for address in brokers.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match Connection::open_with(address, client_id, security) {
                Ok(connection) => return Ok(connection),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("no bootstrap server given")))
    }

    /// Gives up the connection for a client that pipelines its own requests: the socket and
    /// the last correlation id used. Plain TCP only (such a client reads and writes the socket
    /// from two threads, which a TLS session cannot share).
    pub fn into_stream(self) -> anyhow::Result<(TcpStream, i32)> {
        match self.stream {
            Stream::Plain(socket) => Ok((socket, self.correlation_id)),
            Stream::Tls(_) => bail!(
                "{}: the offset-preserving mirror writes over PLAINTEXT or SASL_PLAINTEXT only; use a listener without TLS for it",
                self.address
            ),
        }
    }

    /// The version to send `api` at: the highest both this client (`ours`) and the broker
    /// know, or an error naming what the broker lacks.
    pub fn version(&self, api: ApiKey, ours: i16) -> anyhow::Result<i16> {
        match self.versions.get(&(api as i16)) {
            Some(theirs) => Ok(ours.min(*theirs)),
            None => bail!("the broker at {} does not serve {api:?}", self.address),
        }
    }

    /// Sends `request` at the highest common version up to `ours`; returns that version and
    /// the response.
    pub fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        ours: i16,
        request: &Req,
    ) -> anyhow::Result<(i16, Resp)> {
        let version = self.version(api, ours)?;
        Ok((version, self.send(api, version, request)?))
    }

    fn send<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        request: &Req,
    ) -> anyhow::Result<Resp> {
        self.correlation_id += 1;
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&[0; 4]);
        RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())))
            .encode(&mut frame, api.request_header_version(version))
            .with_context(|| format!("encode a {api:?} header"))?;
        request.encode(&mut frame, version).with_context(|| format!("encode {api:?} v{version}"))?;
        let size = i32::try_from(frame.len() - 4).context("request too large")?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        let address = &self.address;
        self.stream.write_all(&frame).with_context(|| format!("send {api:?} to {address}"))?;

        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).with_context(|| format!("read the {api:?} answer from {address}"))?;
        let size = usize::try_from(i32::from_be_bytes(size)).context("negative response size")?;
        if size > MAX_RESPONSE_BYTES {
            bail!("{address} answered {api:?} with {size} bytes, more than the {MAX_RESPONSE_BYTES} accepted");
        }
        let mut body = vec![0u8; size];
        self.stream.read_exact(&mut body).with_context(|| format!("read the {api:?} answer from {address}"))?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, api.response_header_version(version))
            .with_context(|| format!("decode the {api:?} answer's header"))?;
        if header.correlation_id != self.correlation_id {
            bail!("{address} answered request {} with {}", self.correlation_id, header.correlation_id);
        }
        Resp::decode(&mut body, version).with_context(|| format!("decode the {api:?} v{version} answer"))
    }

    /// The cluster's brokers and, for `topic`, each partition's leader and error code.
    pub fn metadata(&mut self, topic: Option<&str>) -> anyhow::Result<ClusterView> {
        let topics = topic.map(|name| {
            vec![MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))]
        });
        // v1+ reads an empty list as "no topics" and null as "all"; null is not wanted here.
        let request = MetadataRequest::default()
            .with_topics(Some(topics.unwrap_or_default()))
            .with_allow_auto_topic_creation(false);
        let (_, response): (i16, MetadataResponse) = self.call(ApiKey::Metadata, 12, &request)?;
        let nodes = response
            .brokers
            .iter()
            .map(|b| Node { id: b.node_id.0, address: format!("{}:{}", b.host.as_str(), b.port) })
            .collect();
        let (partitions, topic_error) = match response.topics.first() {
            Some(t) => {
                (t.partitions.iter().map(|p| (p.partition_index, p.leader_id.0, p.error_code)).collect(), t.error_code)
            }
            None => (Vec::new(), 0),
        };
        Ok(ClusterView { nodes, partitions, topic_error })
    }
}

/// A Kafka error code by the name Kafka's documentation gives it (`TRANSACTIONAL_ID_NOT_FOUND`),
/// for one-line errors.
pub fn describe_code(code: i16) -> String {
    let Some(error) = kafka_protocol::ResponseError::try_from_code(code) else {
        return "no error".to_string();
    };
    let camel = format!("{error:?}");
    let mut name = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    format!("{name} (error code {code})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_read_as_kafkas_names() {
        assert_eq!(describe_code(105), "TRANSACTIONAL_ID_NOT_FOUND (error code 105)");
        assert_eq!(describe_code(3), "UNKNOWN_TOPIC_OR_PARTITION (error code 3)");
        assert_eq!(describe_code(0), "no error");
    }
}
