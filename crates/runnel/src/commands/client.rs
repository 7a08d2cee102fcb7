//! What every client command shares: where the cluster is, how to print, and rdkafka clients
//! whose failures read as one line with the cause and the fix.

use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use rdkafka::metadata::Metadata;

use super::output::Output;

/// How long metadata and admin requests may take before the command gives up.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// `--brokers` and `--output`, for every command that talks to a cluster.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Bootstrap servers of runnel or any Kafka-compatible cluster.
    #[arg(long, global = true, env = "RUNNEL_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// `table` for people, `json` for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// A librdkafka property for the client (repeatable), e.g. the security settings
    /// `-X security.protocol=SASL_PLAINTEXT -X sasl.mechanism=SCRAM-SHA-512
    /// -X sasl.username=admin -X sasl.password=...`.
    #[arg(short = 'X', long = "client-property", global = true, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub properties: Vec<(String, String)>,
}

impl ClientArgs {
    /// A client config for the cluster.
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers).set("log_level", "3");
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    /// A connection of runnel's own protocol client, signed in as the `-X` properties say.
    pub fn connection(&self) -> anyhow::Result<super::wire::Connection> {
        let security = super::wire::ClientSecurity::from_properties(&self.properties)?;
        super::wire::Connection::bootstrap_with(&self.brokers, "runnel-cli", &security).map_err(|e| {
            // A broker that does not answer gets the hint to start one; a refusal says itself.
            if e.chain().any(|cause| cause.is::<std::io::Error>()) { self.unreachable(format!("{e:#}")) } else { e }
        })
    }

    /// A connection to one broker `address` of the cluster, signed in as [`ClientArgs::connection`].
    pub fn connection_to(&self, address: &str) -> anyhow::Result<super::wire::Connection> {
        let security = super::wire::ClientSecurity::from_properties(&self.properties)?;
        super::wire::Connection::open_with(address, "runnel-cli", &security)
    }

    /// An admin client.
    pub fn admin(&self) -> anyhow::Result<AdminClient<DefaultClientContext>> {
        self.config().create().with_context(|| format!("create a client for {}", self.brokers))
    }

    /// A consumer outside any group, for metadata, offsets and reads.
    pub fn consumer(&self) -> anyhow::Result<BaseConsumer> {
        self.config()
            .set("group.id", "runnel-cli")
            .set("enable.auto.commit", "false")
            .create()
            .with_context(|| format!("create a client for {}", self.brokers))
    }

    /// Cluster metadata (all topics, or one), or an error saying the cluster is unreachable.
    pub fn metadata(&self, consumer: &BaseConsumer, topic: Option<&str>) -> anyhow::Result<Metadata> {
        use rdkafka::consumer::Consumer;
        consumer.fetch_metadata(topic, TIMEOUT).map_err(|e| self.unreachable(e))
    }

    /// The one-line error for a cluster that does not answer.
    pub fn unreachable(&self, e: impl std::fmt::Display) -> anyhow::Error {
        anyhow!(
            "no answer from {} ({e}); start a broker with `runnel serve` or point --brokers (or RUNNEL_BROKERS) at one",
            self.brokers
        )
    }
}

/// Parses a `KEY=VALUE` argument (`-X`, `-c`, `-H`): split at the first `=`, key not empty.
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}
