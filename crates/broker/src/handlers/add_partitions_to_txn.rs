//! AddPartitionsToTxn: partitions join a producer's transaction, which opens with the first.
//! v0-3 carry one producer's request (the client versions); v4-5 batch several transactions,
//! each either an add or a verify-only check (KIP-890: a partition leader asks whether a
//! partition is in the transaction before it appends a transactional batch). Unknown
//! partitions fail their whole transaction, as in Kafka: they get UNKNOWN_TOPIC_OR_PARTITION
//! and the others OPERATION_NOT_ATTEMPTED.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName, TransactionalId};

use crate::api::{Handled, RequestContext};
use crate::broker::Broker;
use crate::security::acl::Operation;

/// One transaction's part of a request.
struct TxnPart {
    id: TransactionalId,
    producer_id: i64,
    epoch: i16,
    verify_only: bool,
    wanted: Vec<(TopicName, Vec<i32>)>,
    /// What the client may not do here, found before the work starts.
    refused: Option<Refusal>,
}

/// Why a transaction's part is refused by the authorizer.
enum Refusal {
    /// No Write on the transactional id: every partition gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
    TransactionalId,
    /// No Write on these topics: theirs get TOPIC_AUTHORIZATION_FAILED, the others
    /// OPERATION_NOT_ATTEMPTED.
    Topics(Vec<String>),
}

impl TxnPart {
    fn new(
        id: TransactionalId,
        producer_id: i64,
        epoch: i16,
        verify_only: bool,
        topics: Vec<AddPartitionsToTxnTopic>,
    ) -> Self {
        let wanted = topics.into_iter().map(|t| (t.name, t.partitions)).collect();
        TxnPart { id, producer_id, epoch, verify_only, wanted, refused: None }
    }

    /// Checks Write on the transactional id and on each topic, as Kafka does.
    fn authorized(mut self, ctx: &RequestContext) -> Self {
        if !ctx.allowed_on_transactional_id(Operation::Write, self.id.as_str()) {
            self.refused = Some(Refusal::TransactionalId);
            return self;
        }
        let topics: Vec<String> = self
            .wanted
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !ctx.allowed_on_topic(Operation::Write, name))
            .map(str::to_string)
            .collect();
        if !topics.is_empty() {
            self.refused = Some(Refusal::Topics(topics));
        }
        self
    }

    fn partitions(&self) -> Vec<(String, i32)> {
        self.wanted
            .iter()
            .flat_map(|(name, partitions)| partitions.iter().map(move |p| (name.as_str().to_string(), *p)))
            .collect()
    }
}

/// The results with `code_of(topic, partition)` for each partition asked for.
fn results(wanted: &[(TopicName, Vec<i32>)], code_of: impl Fn(&str, i32) -> i16) -> Vec<AddPartitionsToTxnTopicResult> {
    wanted
        .iter()
        .map(|(name, partitions)| {
            let results = partitions
                .iter()
                .map(|p| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(code_of(name.as_str(), *p))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default().with_name(name.clone()).with_results_by_partition(results)
        })
        .collect()
}

/// Adds or verifies one transaction's partitions; `version` picks the error codes it knows.
async fn answer_part(broker: &Broker, part: &TxnPart, version: i16) -> Vec<AddPartitionsToTxnTopicResult> {
    if part.id.is_empty() {
        return results(&part.wanted, |_, _| ResponseError::InvalidRequest.code());
    }
    match &part.refused {
        Some(Refusal::TransactionalId) => {
            return results(&part.wanted, |_, _| ResponseError::TransactionalIdAuthorizationFailed.code());
        }
        Some(Refusal::Topics(topics)) => {
            return results(&part.wanted, |topic, _| {
                if topics.iter().any(|t| t == topic) {
                    ResponseError::TopicAuthorizationFailed.code()
                } else {
                    ResponseError::OperationNotAttempted.code()
                }
            });
        }
        None => {}
    }
    let missing = |topic: &str, p: i32| !broker.has_partition(topic, p);
    if part.wanted.iter().any(|(name, partitions)| partitions.iter().any(|p| missing(name.as_str(), *p))) {
        return results(&part.wanted, |topic, p| {
            if missing(topic, p) {
                ResponseError::UnknownTopicOrPartition.code()
            } else {
                ResponseError::OperationNotAttempted.code()
            }
        });
    }
    let fenced_code_supported = version >= 2;
    let partitions = part.partitions();
    let coordinator = &broker.transactions;
    let id = part.id.as_str();
    if part.verify_only {
        // TRANSACTION_ABORTABLE came with v5; v4 knew INVALID_TXN_STATE for the same answer.
        let absent = if version >= 5 { ResponseError::TransactionAbortable } else { ResponseError::InvalidTxnState };
        return match coordinator.verify_partitions(id, part.producer_id, part.epoch, &partitions) {
            Ok(present) => {
                let added: std::collections::HashSet<&(String, i32)> =
                    partitions.iter().zip(present).filter(|(_, present)| *present).map(|(p, _)| p).collect();
                results(
                    &part.wanted,
                    |topic, p| {
                        if added.contains(&(topic.to_string(), p)) { 0 } else { absent.code() }
                    },
                )
            }
            Err(e) => results(&part.wanted, |_, _| e.code(fenced_code_supported)),
        };
    }
    let code = match coordinator.add_partitions(id, part.producer_id, part.epoch, &partitions).await {
        // The record's fsync is left to the transaction's commit, which fsyncs its decision
        // after it.
        Ok(()) => 0,
        Err(e) => {
            tracing::debug!(transactional_id = id, error = %e, "AddPartitionsToTxn refused");
            e.code(fenced_code_supported)
        }
    };
    results(&part.wanted, |_, _| code)
}

/// Answers AddPartitionsToTxn.
pub fn handle(ctx: &RequestContext, request: AddPartitionsToTxnRequest) -> Handled<AddPartitionsToTxnResponse> {
    let broker: Arc<Broker> = ctx.broker.clone();
    let version = ctx.version;
    if version <= 3 {
        let part = TxnPart::new(
            request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
            false,
            request.v3_and_below_topics,
        )
        .authorized(ctx);
        return Handled::Later(Box::pin(async move {
            let topics = answer_part(&broker, &part, version).await;
            AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics)
        }));
    }
    let parts: Vec<TxnPart> = request
        .transactions
        .into_iter()
        .map(|t| {
            TxnPart::new(t.transactional_id, t.producer_id.0, t.producer_epoch, t.verify_only, t.topics).authorized(ctx)
        })
        .collect();
    Handled::Later(Box::pin(async move {
        let mut by_transaction = Vec::with_capacity(parts.len());
        for part in &parts {
            let topics = answer_part(&broker, part, version).await;
            by_transaction.push(
                AddPartitionsToTxnResult::default().with_transactional_id(part.id.clone()).with_topic_results(topics),
            );
        }
        AddPartitionsToTxnResponse::default().with_results_by_transaction(by_transaction)
    }))
}
