//! DescribeLogDirs: the data directory with each partition's size on disk (kafka-log-dirs.sh,
//! Admin `describeLogDirs`), and from v4 the file system's total and usable bytes. runnel has
//! one log dir; offset lag is 0 (there is no future replica being moved).

use std::collections::HashSet;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::metrics::process::disk_space;
use crate::security::acl::Operation;

/// Answers DescribeLogDirs: every partition when `topics` is null, else those named that exist.
pub fn handle(ctx: &RequestContext, request: DescribeLogDirsRequest) -> Handled<DescribeLogDirsResponse> {
    let broker = &ctx.broker;
    if !ctx.allowed_on_cluster(Operation::Describe) {
        let refused = ResponseError::ClusterAuthorizationFailed.code();
        return Handled::Ready(DescribeLogDirsResponse::default().with_error_code(refused));
    }
    let wanted: Option<HashSet<(String, i32)>> = request.topics.map(|topics| {
        topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic.to_string(), *p))).collect()
    });
    let topics = broker
        .topics
        .all()
        .into_iter()
        .filter_map(|topic| {
            let partitions: Vec<DescribeLogDirsPartition> = topic
                .partitions
                .iter()
                .filter(|p| wanted.as_ref().is_none_or(|w| w.contains(&(topic.name().to_string(), p.index()))))
                .map(|p| {
                    DescribeLogDirsPartition::default()
                        .with_partition_index(p.index())
                        .with_partition_size(p.size_bytes() as i64)
                })
                .collect();
            (!partitions.is_empty()).then(|| {
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.record.name.clone())))
                    .with_partitions(partitions)
            })
        })
        .collect();
    let dir = std::path::absolute(broker.data_dir()).unwrap_or_else(|_| broker.data_dir().to_path_buf());
    let (usable, total) = disk_space(&dir).map_or((-1, -1), |(free, total)| (free as i64, total as i64));
    let result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(dir.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(total)
        .with_usable_bytes(usable);
    Handled::Ready(DescribeLogDirsResponse::default().with_results(vec![result]))
}
