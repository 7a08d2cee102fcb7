//! A MirrorMaker 2 properties file (`connect-mirror-maker.sh mm2.properties`) read as
//! `runnel mirror` settings, so an MM2 setup moves over unchanged: `clusters`,
//! `<alias>.bootstrap.servers`, the flow `<source>-><target>.enabled`, `topics`, `groups`,
//! `groups.exclude` (globally or per flow), `replication.policy.class`, the intervals, and
//! client properties per cluster (`us.security.protocol`, `eu.producer.compression.type`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

/// What the file says about one flow; `None` where it says nothing.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FlowSettings {
    /// The source cluster's alias.
    pub source_alias: String,
    /// The target cluster's alias.
    pub target_alias: String,
    /// The source's bootstrap servers.
    pub source: Option<String>,
    /// The target's bootstrap servers.
    pub target: Option<String>,
    /// Topics to mirror, as one regular expression.
    pub topics: Option<String>,
    /// Groups to carry over.
    pub groups: Option<String>,
    /// Groups never carried over.
    pub groups_exclude: Option<String>,
    /// Keep topic names (IdentityReplicationPolicy).
    pub identity: bool,
    /// `exactly.once.source.support = enabled`.
    pub exactly_once: bool,
    /// `emit.checkpoints.interval.seconds`.
    pub checkpoint_secs: Option<f64>,
    /// `emit.heartbeats.interval.seconds` (0 when `emit.heartbeats.enabled=false`).
    pub heartbeat_secs: Option<f64>,
    /// `refresh.topics.interval.seconds`.
    pub refresh_topics_secs: Option<f64>,
    /// librdkafka properties, `source.`- or `target.`-prefixed as `-X` takes them.
    pub properties: Vec<(String, String)>,
}

/// Settings MirrorMaker 2 has that a runnel mirror does without (Connect's own topics and
/// tasks, replication factors): read and left alone, quietly.
const CONNECT_ONLY: [&str; 12] = [
    "tasks.max",
    "replication.factor",
    "checkpoints.topic.replication.factor",
    "heartbeats.topic.replication.factor",
    "offset-syncs.topic.replication.factor",
    "offset.storage.replication.factor",
    "status.storage.replication.factor",
    "config.storage.replication.factor",
    "sync.topic.acls.enabled",
    "sync.topic.configs.enabled",
    "sync.group.offsets.enabled",
    "emit.checkpoints.enabled",
];

/// Reads the flow `flow` (`us->eu`) from the file at `path`, or its one enabled flow.
pub fn read(path: &Path, flow: Option<&str>) -> anyhow::Result<FlowSettings> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    parse(&runnel_broker::config::parse_properties(&text), flow).with_context(|| format!("in {}", path.display()))
}

/// Reads a flow from parsed properties.
pub fn parse(properties: &BTreeMap<String, String>, flow: Option<&str>) -> anyhow::Result<FlowSettings> {
    let clusters: Vec<String> = properties
        .get("clusters")
        .map(|c| c.split(',').map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect())
        .unwrap_or_default();
    if clusters.len() < 2 {
        bail!("`clusters` must name two clusters or more (clusters = us, eu)");
    }
    let (source_alias, target_alias) = match flow {
        Some(flow) => split_flow(flow).with_context(|| format!("--flow {flow}"))?,
        None => {
            let enabled: Vec<(String, String)> = properties
                .iter()
                .filter(|(k, v)| k.ends_with(".enabled") && k.contains("->") && v.trim() == "true")
                .filter_map(|(k, _)| split_flow(k.trim_end_matches(".enabled")).ok())
                .collect();
            match enabled.as_slice() {
                [one] => one.clone(),
                [] => bail!("no flow is enabled (us->eu.enabled = true)"),
                many => bail!(
                    "{} flows are enabled ({}); a runnel mirror runs one: pick it with --flow",
                    many.len(),
                    many.iter().map(|(s, t)| format!("{s}->{t}")).collect::<Vec<_>>().join(", ")
                ),
            }
        }
    };
    for alias in [&source_alias, &target_alias] {
        if !clusters.contains(alias) {
            bail!("cluster {alias} is not in `clusters` ({})", clusters.join(", "));
        }
    }
    let flow_prefix = format!("{source_alias}->{target_alias}.");
    // A flow's own setting wins over the global one.
    let setting = |name: &str| -> Option<String> {
        properties.get(&format!("{flow_prefix}{name}")).or_else(|| properties.get(name)).cloned()
    };
    let number = |name: &str| -> anyhow::Result<Option<f64>> {
        setting(name).map(|v| v.parse::<f64>().with_context(|| format!("{name} = {v} is not a number"))).transpose()
    };
    let list = |name: &str| setting(name).map(|v| alternatives(&v));
    if let Some(separator) = setting("replication.policy.separator").filter(|s| s != ".") {
        bail!("replication.policy.separator = {separator}: runnel names copies with \".\" only");
    }
    let identity = match setting("replication.policy.class") {
        None => false,
        Some(class) if class.ends_with("IdentityReplicationPolicy") => true,
        Some(class) if class.ends_with("DefaultReplicationPolicy") => false,
        Some(class) => bail!("replication.policy.class = {class}: runnel knows the Default and Identity policies"),
    };
    let heartbeat_secs = match setting("emit.heartbeats.enabled").as_deref() {
        Some("false") => Some(0.0),
        _ => number("emit.heartbeats.interval.seconds")?,
    };
    let mut settings = FlowSettings {
        source: properties.get(&format!("{source_alias}.bootstrap.servers")).cloned(),
        target: properties.get(&format!("{target_alias}.bootstrap.servers")).cloned(),
        topics: list("topics"),
        groups: list("groups"),
        groups_exclude: setting("groups.exclude"),
        identity,
        exactly_once: setting("exactly.once.source.support").is_some_and(|v| v == "enabled"),
        checkpoint_secs: number("emit.checkpoints.interval.seconds")?,
        heartbeat_secs,
        refresh_topics_secs: number("refresh.topics.interval.seconds")?,
        properties: Vec::new(),
        source_alias,
        target_alias,
    };
    for (key, value) in properties {
        let Some((alias, rest)) = key.split_once('.') else { continue };
        let side = if alias == settings.source_alias {
            "source"
        } else if alias == settings.target_alias {
            "target"
        } else {
            continue;
        };
        if rest == "bootstrap.servers" || alias.contains("->") || CONNECT_ONLY.contains(&rest) {
            continue;
        }
        // MM2 scopes a client property to the consumer, producer or admin client; here each
        // side has its own clients, so the scope is the side.
        let property = ["consumer.", "producer.", "admin."].iter().find_map(|p| rest.strip_prefix(p)).unwrap_or(rest);
        settings.properties.push((format!("{side}.{property}"), value.clone()));
    }
    Ok(settings)
}

/// `us->eu` as its two aliases.
fn split_flow(flow: &str) -> anyhow::Result<(String, String)> {
    match flow.split_once("->") {
        Some((source, target)) if !source.trim().is_empty() && !target.trim().is_empty() => {
            Ok((source.trim().to_string(), target.trim().to_string()))
        }
        _ => bail!("a flow is written source->target (us->eu)"),
    }
}

/// MM2's comma-separated list of regular expressions, as one.
fn alternatives(list: &str) -> String {
    let parts: Vec<&str> = list.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    if parts.len() == 1 {
        parts[0].to_string()
    } else {
        parts.iter().map(|p| format!("(?:{p})")).collect::<Vec<_>>().join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties(text: &str) -> BTreeMap<String, String> {
        runnel_broker::config::parse_properties(text)
    }

    #[test]
    fn an_mm2_file_gives_its_one_enabled_flow() {
        let file = properties(
            "clusters = us, eu\n\
             us.bootstrap.servers = us-host:9092\n\
             eu.bootstrap.servers = eu-host:9092\n\
             us->eu.enabled = true\n\
             eu->us.enabled = false\n\
             topics = .*\n\
             us->eu.topics = orders, payments.*\n\
             groups = billing\n\
             emit.checkpoints.interval.seconds = 10\n\
             emit.heartbeats.enabled = false\n\
             replication.factor = 3\n\
             us.security.protocol = SASL_SSL\n\
             eu.producer.compression.type = zstd\n",
        );
        let flow = parse(&file, None).unwrap();
        assert_eq!((flow.source_alias.as_str(), flow.target_alias.as_str()), ("us", "eu"));
        assert_eq!(flow.source.as_deref(), Some("us-host:9092"));
        assert_eq!(flow.target.as_deref(), Some("eu-host:9092"));
        assert_eq!(flow.topics.as_deref(), Some("(?:orders)|(?:payments.*)"), "the flow's own list wins");
        assert_eq!(flow.groups.as_deref(), Some("billing"));
        assert_eq!(flow.checkpoint_secs, Some(10.0));
        assert_eq!(flow.heartbeat_secs, Some(0.0));
        assert!(!flow.identity);
        assert_eq!(
            flow.properties,
            vec![
                ("target.compression.type".to_string(), "zstd".to_string()),
                ("source.security.protocol".to_string(), "SASL_SSL".to_string())
            ]
        );
    }

    #[test]
    fn flows_policies_and_mistakes_are_named() {
        let both = properties("clusters = us, eu\nus->eu.enabled = true\neu->us.enabled = true\n");
        assert!(parse(&both, None).unwrap_err().to_string().contains("--flow"));
        let chosen = parse(&both, Some("eu->us")).unwrap();
        assert_eq!((chosen.source_alias.as_str(), chosen.target_alias.as_str()), ("eu", "us"));
        assert!(parse(&both, Some("us->asia")).unwrap_err().to_string().contains("asia"));
        let identity = properties(
            "clusters = a, b\na->b.enabled = true\n\
             replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n",
        );
        assert!(parse(&identity, None).unwrap().identity);
        let separator = properties("clusters = a, b\na->b.enabled = true\nreplication.policy.separator = _\n");
        assert!(parse(&separator, None).unwrap_err().to_string().contains("separator"));
        assert!(parse(&properties("clusters = a\n"), None).is_err());
    }
}
