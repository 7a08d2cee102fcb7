//! DescribeCluster: the cluster id and its one broker, which is also the controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::authorized_operations;

/// Answers DescribeCluster.
pub fn handle(ctx: &RequestContext, request: DescribeClusterRequest) -> Handled<DescribeClusterResponse> {
    let broker = &ctx.broker;
    let (host, port) = &ctx.listener.endpoint;
    let node = BrokerId(broker.node_id());
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(broker.meta.cluster_id.clone()))
        .with_controller_id(node)
        .with_brokers(vec![
            DescribeClusterBroker::default()
                .with_broker_id(node)
                .with_host(StrBytes::from_string(host.clone()))
                .with_port(i32::from(*port)),
        ])
        .with_cluster_authorized_operations(authorized_operations::if_requested(
            request.include_cluster_authorized_operations,
            || authorized_operations::cluster(ctx),
        ));
    if ctx.version >= 1 {
        response.endpoint_type = request.endpoint_type;
    }
    Handled::Ready(response)
}
