//! DeleteTopics: by name (all versions) or by id (v6).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::api::{Handled, RequestContext};
use crate::error_codes::for_topic_error;
use crate::security::acl::Operation;

/// Answers DeleteTopics.
pub fn handle(ctx: &RequestContext, request: DeleteTopicsRequest) -> Handled<DeleteTopicsResponse> {
    let broker = &ctx.broker;
    let wanted: Vec<(Option<TopicName>, Uuid)> = if ctx.version >= 6 {
        request.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
    } else {
        request.topic_names.into_iter().map(|n| (Some(n), Uuid::nil())).collect()
    };
    let results = wanted
        .into_iter()
        .map(|(name, id)| {
            let name = match name {
                Some(name) => Some(name),
                None => broker.topics.get_by_id(id).map(|t| TopicName(StrBytes::from_string(t.name().to_string()))),
            };
            let mut result = DeletableTopicResult::default().with_name(name.clone());
            if ctx.version >= 6 {
                result.topic_id = id;
            }
            let Some(name) = name else {
                return result.with_error_code(ResponseError::UnknownTopicId.code());
            };
            if !ctx.allowed_on_topic(Operation::Delete, name.as_str()) {
                return result.with_error_code(ResponseError::TopicAuthorizationFailed.code());
            }
            match broker.topics.delete(name.as_str()) {
                Ok(deleted_id) => {
                    tracing::info!(topic = %name.as_str(), client = %ctx.client_id, "deleted topic");
                    if ctx.version >= 6 {
                        result.topic_id = deleted_id;
                    }
                    result
                }
                Err(e) => {
                    let mut result = result.with_error_code(for_topic_error(&e));
                    if ctx.version >= 5 {
                        result.error_message = Some(StrBytes::from_string(e.to_string()));
                    }
                    result
                }
            }
        })
        .collect();
    Handled::Ready(DeleteTopicsResponse::default().with_responses(results))
}
