//! `meta.properties`: the identity of a data directory, written as KRaft writes it.
//!
//! Format (Java properties): `cluster.id`, `directory.id`, `node.id`, `version=1`. A directory
//! formatted for one cluster is never silently reused for another.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::parse_properties;

/// The file name inside the data directory.
pub const FILE_NAME: &str = "meta.properties";

/// Why a directory could not be formatted or read.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// File system failure.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The directory belongs to another cluster.
    #[error(
        "{dir} is already formatted with cluster id {existing}, not {requested}; use another --data-dir or the existing id"
    )]
    OtherCluster {
        /// The directory.
        dir: PathBuf,
        /// The id in its meta.properties.
        existing: String,
        /// The id asked for.
        requested: String,
    },
    /// The file exists but is not a valid meta.properties.
    #[error("{path} is not a valid meta.properties: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The cluster id is not 16 bytes of URL-safe base64.
    #[error(
        "cluster id {0:?} is not a Kafka uuid (22 characters of URL-safe base64); make one with `runnel storage random-uuid`"
    )]
    BadClusterId(String),
}

/// The identity recorded in a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    /// The cluster this directory belongs to.
    pub cluster_id: String,
    /// The node that owns it.
    pub node_id: i32,
    /// A random id of the directory itself.
    pub directory_id: String,
}

/// A new Kafka-format uuid: 16 random bytes as URL-safe base64 without padding (22 characters).
/// Like Kafka, never the all-zero id and never one starting with '-' (it would look like a flag).
pub fn random_uuid() -> String {
    loop {
        let bytes: [u8; 16] = rand::random();
        let text = URL_SAFE_NO_PAD.encode(bytes);
        if bytes != [0; 16] && !text.starts_with('-') {
            return text;
        }
    }
}

/// Checks that `id` decodes to exactly 16 bytes.
pub fn validate_uuid(id: &str) -> Result<(), MetaError> {
    match URL_SAFE_NO_PAD.decode(id) {
        Ok(bytes) if bytes.len() == 16 => Ok(()),
        _ => Err(MetaError::BadClusterId(id.to_string())),
    }
}

fn io(action: String) -> impl FnOnce(std::io::Error) -> MetaError {
    move |source| MetaError::Io { action, source }
}

/// Reads `meta.properties` from `dir`, or `None` when the directory is not formatted.
pub fn read(dir: &Path) -> Result<Option<MetaProperties>, MetaError> {
    let path = dir.join(FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(format!("read {}", path.display()))(e)),
    };
    let props = parse_properties(&text);
    let invalid = |reason: &str| MetaError::Invalid { path: path.clone(), reason: reason.to_string() };
    let cluster_id = props.get("cluster.id").ok_or_else(|| invalid("no cluster.id"))?.clone();
    let node_id = props
        .get("node.id")
        .ok_or_else(|| invalid("no node.id"))?
        .parse()
        .map_err(|_| invalid("node.id is not a number"))?;
    let directory_id = props.get("directory.id").cloned().unwrap_or_default();
    Ok(Some(MetaProperties { cluster_id, node_id, directory_id }))
}

/// Formats `dir` for `cluster_id`, creating it if needed. Formatting again with the same id is a
/// no-op that returns the existing identity; another id is refused.
pub fn format(dir: &Path, cluster_id: &str, node_id: i32) -> Result<MetaProperties, MetaError> {
    validate_uuid(cluster_id)?;
    if let Some(existing) = read(dir)? {
        if existing.cluster_id != cluster_id {
            return Err(MetaError::OtherCluster {
                dir: dir.to_path_buf(),
                existing: existing.cluster_id,
                requested: cluster_id.to_string(),
            });
        }
        return Ok(existing);
    }
    std::fs::create_dir_all(dir).map_err(io(format!("create data directory {}", dir.display())))?;
    let meta = MetaProperties { cluster_id: cluster_id.to_string(), node_id, directory_id: random_uuid() };
    let text = format!(
        "#\n#Written by runnel storage format\ncluster.id={}\ndirectory.id={}\nnode.id={}\nversion=1\n",
        meta.cluster_id, meta.directory_id, meta.node_id
    );
    runnel_log::durable_file::write_atomically(&dir.join(FILE_NAME), text.as_bytes())
        .map_err(io(format!("write {}", dir.join(FILE_NAME).display())))?;
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_uuids_are_22_url_safe_characters_of_16_bytes() {
        for _ in 0..200 {
            let id = random_uuid();
            assert_eq!(id.len(), 22);
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{id}");
            assert!(!id.starts_with('-'));
            validate_uuid(&id).expect("valid");
        }
        assert!(validate_uuid("not-a-uuid").is_err());
    }

    #[test]
    fn format_writes_kraft_meta_properties_and_refuses_another_cluster() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = random_uuid();
        let meta = format(dir.path(), &id, 1).expect("format");
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).expect("read");
        assert!(text.contains(&format!("cluster.id={id}\n")));
        assert!(text.contains("node.id=1\n") && text.contains("version=1\n"));
        assert_eq!(format(dir.path(), &id, 1).expect("same id again"), meta);
        let other = random_uuid();
        let err = format(dir.path(), &other, 1).expect_err("other cluster");
        assert!(matches!(err, MetaError::OtherCluster { .. }), "{err}");
    }
}
