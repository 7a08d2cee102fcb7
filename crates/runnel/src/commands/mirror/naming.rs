//! Which source topics a mirror copies and what it names them on the target: MirrorMaker 2's
//! DefaultReplicationPolicy (`<source alias>.<topic>`, separator `.`), so that two mirrors
//! running opposite ways never copy a topic back where it came from; or the topic's own name
//! (`--identity`) for a one-way migration.

use regex_lite::Regex;

/// Topic naming and selection of one mirror (source cluster to target cluster).
#[derive(Debug, Clone)]
pub struct ReplicationPolicy {
    /// The source cluster's alias: the prefix of the topics it gets on the target.
    pub source_alias: String,
    /// The target cluster's alias: topics that came from it are never mirrored back.
    pub target_alias: String,
    /// Keep topic names (one-way only: nothing tells a copied topic from an original).
    pub identity: bool,
    /// Source topics to mirror (the whole name must match).
    pub topics: Regex,
}

impl ReplicationPolicy {
    /// A policy mirroring the topics whose whole name matches `topics`.
    pub fn new(source_alias: &str, target_alias: &str, identity: bool, topics: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !source_alias.is_empty() && !source_alias.contains('.'),
            "the source alias {source_alias:?} must be a non-empty name without '.'"
        );
        anyhow::ensure!(
            !target_alias.is_empty() && !target_alias.contains('.'),
            "the target alias {target_alias:?} must be a non-empty name without '.'"
        );
        anyhow::ensure!(source_alias != target_alias, "the source and target aliases are both {source_alias:?}");
        let topics = Regex::new(&format!("^(?:{topics})$"))
            .map_err(|e| anyhow::anyhow!("--topics is not a regular expression: {e}"))?;
        Ok(ReplicationPolicy {
            source_alias: source_alias.to_string(),
            target_alias: target_alias.to_string(),
            identity,
            topics,
        })
    }

    /// The name `topic` gets on the target. Heartbeats always get the prefix, so that the
    /// target can tell whose they are.
    pub fn target_topic(&self, topic: &str) -> String {
        if self.identity && !is_heartbeats(topic) {
            topic.to_string()
        } else {
            format!("{}.{topic}", self.source_alias)
        }
    }

    /// Whether `topic` of the source is mirrored: it matches (heartbeats always do), is not
    /// internal, and did not come from the target (a name with the target's alias among its
    /// prefixes, as MM2 checks).
    pub fn mirrors(&self, topic: &str) -> bool {
        let heartbeats = is_heartbeats(topic);
        if !heartbeats && (!self.topics.is_match(topic) || is_internal(topic)) {
            return false;
        }
        let mut prefixes = topic.split('.');
        prefixes.next_back();
        !prefixes.any(|alias| alias == self.target_alias)
    }
}

/// Topics of the cluster itself or of mirroring tools: never copied.
fn is_internal(topic: &str) -> bool {
    topic.starts_with("__") || topic.starts_with('_') || topic.ends_with(".internal") || topic.starts_with("mm2-")
}

/// A mirror's heartbeats, or their copy from another cluster.
fn is_heartbeats(topic: &str) -> bool {
    topic == super::mm2_records::HEARTBEATS_TOPIC || topic.ends_with(".heartbeats")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_get_the_source_prefix_and_never_go_back_where_they_came_from() {
        let us_to_eu = ReplicationPolicy::new("us", "eu", false, "orders|eu\\..*|us\\..*|__consumer_offsets").unwrap();
        assert_eq!(us_to_eu.target_topic("orders"), "us.orders");
        assert!(us_to_eu.mirrors("orders"));
        assert!(!us_to_eu.mirrors("payments"), "not matched");
        assert!(!us_to_eu.mirrors("eu.orders"), "came from eu: copying it back would loop");
        assert!(!us_to_eu.mirrors("__consumer_offsets"));
        // A topic that came to us from a third cluster goes on (MM2 chains the prefixes).
        let all = ReplicationPolicy::new("us", "eu", false, ".*").unwrap();
        assert!(all.mirrors("asia.orders"));
        assert_eq!(all.target_topic("asia.orders"), "us.asia.orders");
        assert!(!all.mirrors("asia.eu.orders"));
        assert!(!all.mirrors("us.checkpoints.internal") && !all.mirrors("mm2-offset-syncs.eu.internal"));
        // Heartbeats go whatever --topics says, except back where they came from.
        assert!(us_to_eu.mirrors("heartbeats") && us_to_eu.mirrors("asia.heartbeats"));
        assert!(!us_to_eu.mirrors("eu.heartbeats"));
        assert_eq!(us_to_eu.target_topic("heartbeats"), "us.heartbeats");
    }

    #[test]
    fn identity_keeps_names_and_bad_settings_are_refused() {
        let identity = ReplicationPolicy::new("us", "eu", true, "orders").unwrap();
        assert_eq!(identity.target_topic("orders"), "orders");
        assert_eq!(identity.target_topic("heartbeats"), "us.heartbeats");
        assert!(ReplicationPolicy::new("us", "us", false, ".*").is_err());
        assert!(ReplicationPolicy::new("u.s", "eu", false, ".*").is_err());
        let error = ReplicationPolicy::new("us", "eu", false, "(").unwrap_err().to_string();
        assert!(error.contains("--topics"), "{error}");
    }
}
