//! ApiVersions: the versions this broker serves, straight from the routing table.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::api::{Handled, RequestContext, SUPPORTED};

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default().with_api_key(*key as i16).with_min_version(*min).with_max_version(*max)
        })
        .collect()
}

/// Answers ApiVersions.
pub fn handle(_ctx: &RequestContext, _request: ApiVersionsRequest) -> Handled<ApiVersionsResponse> {
    Handled::Ready(ApiVersionsResponse::default().with_api_keys(api_keys()))
}

/// The v0 answer to an ApiVersions request of a version this broker does not know.
pub fn unsupported_version() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_error_code(ResponseError::UnsupportedVersion.code()).with_api_keys(api_keys())
}
