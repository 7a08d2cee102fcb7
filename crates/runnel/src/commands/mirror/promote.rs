//! `runnel mirror promote`: turns mirror topics on a runnel target into ordinary topics, the
//! step of a failover. A promoted topic keeps every record at its source offset, takes
//! producers from then on, and is never written by a mirror again (the broker refuses it),
//! so consumer groups whose offsets were copied go on with no translation.

use anyhow::{Context, bail};
use clap::Args;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::{
    ApiKey, DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use runnel_broker::topic_config::MIRROR_LINK;

use crate::commands::wire::{ClientSecurity, Connection, describe_code};

/// `runnel mirror promote` options.
#[derive(Debug, Clone, Args)]
pub struct PromoteArgs {
    /// Mirror topics to promote (their names on the target).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub topics: Vec<String>,
    /// Promote every mirror topic on the target.
    #[arg(long)]
    pub all: bool,
    /// Bootstrap servers of the target (a runnel broker).
    #[arg(long)]
    pub target: String,
    /// A librdkafka security property for the target (`-X security.protocol=SASL_SSL ...`).
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = crate::commands::client::parse_key_value)]
    pub properties: Vec<(String, String)>,
}

/// Kafka's resource type for a topic in config requests.
const TOPIC_RESOURCE: i8 = 2;

/// Promotes the topics `args` names; prints one line per topic.
pub fn run(args: PromoteArgs) -> anyhow::Result<()> {
    let security = ClientSecurity::from_properties(&args.properties)?;
    let mut connection = Connection::bootstrap_with(&args.target, "runnel-cli", &security)
        .with_context(|| format!("connect to the target at {} (is it running?)", args.target))?;
    let topics = if args.all {
        let (_, metadata): (i16, MetadataResponse) =
            connection.call(ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None))?;
        metadata.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.0.to_string())).collect()
    } else {
        args.topics.clone()
    };
    let links = mirror_links(&mut connection, &topics)?;
    let promoted: Vec<(&String, &String)> =
        topics.iter().zip(&links).filter_map(|(topic, link)| link.as_ref().map(|l| (topic, l))).collect();
    if !args.all
        && let Some((topic, _)) = topics.iter().zip(&links).find(|(_, link)| link.is_none())
    {
        bail!(
            "{topic} is not a mirror topic on {} (already promoted, or never mirrored with --preserve-offsets)",
            args.target
        );
    }
    if promoted.is_empty() {
        println!("no mirror topic on {}", args.target);
        return Ok(());
    }
    let request = IncrementalAlterConfigsRequest::default().with_resources(
        promoted
            .iter()
            .map(|(topic, _)| {
                AlterConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(StrBytes::from_string(topic.to_string()))
                    .with_configs(vec![
                        AlterableConfig::default()
                            .with_name(StrBytes::from_static_str(MIRROR_LINK))
                            .with_config_operation(1),
                    ])
            })
            .collect(),
    );
    let (_, response): (i16, IncrementalAlterConfigsResponse) =
        connection.call(ApiKey::IncrementalAlterConfigs, 1, &request)?;
    for result in &response.responses {
        if result.error_code != 0 {
            let message = result.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
            bail!("could not promote {}: {} {message}", result.resource_name, describe_code(result.error_code));
        }
    }
    for (topic, link) in promoted {
        println!(
            "promoted {topic} (was a mirror topic of link {link}): it takes producers now, at the source's offsets"
        );
    }
    Ok(())
}

/// The mirror link of each of `topics` (`None`: not a mirror topic).
fn mirror_links(connection: &mut Connection, topics: &[String]) -> anyhow::Result<Vec<Option<String>>> {
    let request = DescribeConfigsRequest::default().with_resources(
        topics
            .iter()
            .map(|topic| {
                DescribeConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(StrBytes::from_string(topic.clone()))
                    .with_configuration_keys(Some(vec![StrBytes::from_static_str(MIRROR_LINK)]))
            })
            .collect(),
    );
    let (_, response): (i16, DescribeConfigsResponse) = connection.call(ApiKey::DescribeConfigs, 4, &request)?;
    topics
        .iter()
        .map(|topic| {
            let result = response
                .results
                .iter()
                .find(|r| r.resource_name.as_str() == topic)
                .ok_or_else(|| anyhow::anyhow!("the target did not describe {topic}"))?;
            if result.error_code != 0 {
                bail!("{topic} on the target: {}", describe_code(result.error_code));
            }
            Ok(result
                .configs
                .iter()
                .find(|c| c.name.as_str() == MIRROR_LINK)
                .and_then(|c| c.value.as_ref())
                .map(|v| v.to_string()))
        })
        .collect()
}
