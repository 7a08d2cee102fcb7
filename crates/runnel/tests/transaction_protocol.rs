//! The transaction APIs over a raw socket, at every served version: FindCoordinator for a
//! transactional id, InitProducerId, AddPartitionsToTxn (with the batched verify-only form of
//! v4-5), AddOffsetsToTxn, TxnOffsetCommit and EndTxn, a transactional Produce,
//! DescribeTransactions and ListTransactions, and bad input answered with Kafka's error codes.

mod broker_process;
mod raw_client;

use std::net::TcpStream;

use broker_process::BrokerProcess;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::{AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction};
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey,
    DescribeProducersRequest, DescribeProducersResponse, DescribeTransactionsRequest, DescribeTransactionsResponse,
    EndTxnRequest, EndTxnResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, InitProducerIdRequest,
    InitProducerIdResponse, ListTransactionsRequest, ListTransactionsResponse, OffsetFetchRequest, OffsetFetchResponse,
    ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;
use raw_client::{call, connect, create_topic, produce_one};
use runnel_log::testing::transactional_batch;

fn txn_id(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

fn init(stream: &mut TcpStream, version: i16, id: &str, timeout_ms: i32) -> InitProducerIdResponse {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id(id)))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    call(stream, ApiKey::InitProducerId, version, &request)
}

/// AddPartitionsToTxn for partitions of "t"; the error codes per partition.
fn add(stream: &mut TcpStream, version: i16, id: &str, pid: i64, epoch: i16, partitions: &[i32]) -> Vec<i16> {
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(id))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(partitions.to_vec()),
        ]);
    let response: AddPartitionsToTxnResponse = call(stream, ApiKey::AddPartitionsToTxn, version, &request);
    response.results_by_topic_v3_and_below[0].results_by_partition.iter().map(|p| p.partition_error_code).collect()
}

/// AddPartitionsToTxn v4+ for one transaction on partitions of "t"; the error codes per
/// partition and the top-level one.
fn add_batched(
    stream: &mut TcpStream,
    version: i16,
    id: &str,
    (pid, epoch): (i64, i16),
    verify_only: bool,
    partitions: &[i32],
) -> (Vec<i16>, i16) {
    let request = AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(txn_id(id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_verify_only(verify_only)
            .with_topics(vec![
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(partitions.to_vec()),
            ]),
    ]);
    let response: AddPartitionsToTxnResponse = call(stream, ApiKey::AddPartitionsToTxn, version, &request);
    assert!(response.results_by_topic_v3_and_below.is_empty());
    let result = &response.results_by_transaction[0];
    assert_eq!(result.transactional_id.as_str(), id);
    let codes = result.topic_results[0].results_by_partition.iter().map(|p| p.partition_error_code).collect();
    (codes, response.error_code)
}

fn add_offsets(stream: &mut TcpStream, version: i16, id: &str, pid: i64, epoch: i16, group: &str) -> i16 {
    let request = AddOffsetsToTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())));
    let response: AddOffsetsToTxnResponse = call(stream, ApiKey::AddOffsetsToTxn, version, &request);
    response.error_code
}

/// TxnOffsetCommit of offset `offset` for "t"-0; the partition's error code.
fn txn_commit(stream: &mut TcpStream, version: i16, id: &str, pid: i64, epoch: i16, group: &str, offset: i64) -> i16 {
    let request = TxnOffsetCommitRequest::default()
        .with_transactional_id(txn_id(id))
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_topics(vec![
            TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![
                    TxnOffsetCommitRequestPartition::default().with_partition_index(0).with_committed_offset(offset),
                ]),
        ]);
    let response: TxnOffsetCommitResponse = call(stream, ApiKey::TxnOffsetCommit, version, &request);
    response.topics[0].partitions[0].error_code
}

fn end(stream: &mut TcpStream, version: i16, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let request = EndTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let response: EndTxnResponse = call(stream, ApiKey::EndTxn, version, &request);
    response.error_code
}

#[test]
fn every_served_version_runs_a_transaction_from_init_to_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "t", 1, &[]).0, 0);

    let find = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("tx")).with_key_type(1);
    let found: FindCoordinatorResponse = call(&mut stream, ApiKey::FindCoordinator, 3, &find);
    let port: i32 = broker.bootstrap().rsplit_once(':').expect("host:port").1.parse().expect("port");
    assert_eq!((found.error_code, found.port), (0, port));

    // AddPartitionsToTxn is a client request up to v3 and batched from v4; the other APIs go
    // up to v4.
    for version in 0..=5i16 {
        let id = format!("tx-v{version}");
        let initialised = init(&mut stream, version, &id, 60_000);
        assert_eq!((initialised.error_code, initialised.producer_epoch), (0, 0), "v{version}");
        let pid = initialised.producer_id.0;
        if version <= 3 {
            assert_eq!(add(&mut stream, version, &id, pid, 0, &[0]), vec![0], "v{version}");
        } else {
            assert_eq!(add_batched(&mut stream, version, &id, (pid, 0), false, &[0]), (vec![0], 0), "v{version}");
        }
        let version = version.min(4);
        let (code, _) = produce_one(&mut stream, "t", -1, transactional_batch(2, 0, (pid, 0, 0)));
        assert_eq!(code, 0, "v{version}: a batch into the open transaction");
        assert_eq!(add_offsets(&mut stream, version, &id, pid, 0, "g"), 0, "v{version}");
        assert_eq!(txn_commit(&mut stream, version, &id, pid, 0, "g", 2), 0, "v{version}");
        assert_eq!(end(&mut stream, version, &id, pid, 0, true), 0, "v{version}");
        assert_eq!(end(&mut stream, version, &id, pid, 0, true), 0, "v{version}: a retried EndTxn");
    }
    for version in 0..=5i16 {
        assert_eq!(init(&mut stream, version, &format!("init-v{version}"), 60_000).error_code, 0, "v{version}");
    }
}

#[test]
fn verify_only_checks_a_partition_is_in_the_open_transaction_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "t", 1, &[]).0, 0);
    let pid = init(&mut stream, 5, "v", 60_000).producer_id.0;

    // Not in the transaction yet: TRANSACTION_ABORTABLE at v5, INVALID_TXN_STATE at v4 (the
    // code v4 knew).
    let (codes, top) = add_batched(&mut stream, 5, "v", (pid, 0), true, &[0]);
    assert_eq!((codes, top), (vec![ResponseError::TransactionAbortable.code()], 0));
    let (codes, _) = add_batched(&mut stream, 4, "v", (pid, 0), true, &[0]);
    assert_eq!(codes, vec![ResponseError::InvalidTxnState.code()]);
    // Verifying added nothing: a transactional batch is still refused.
    let (code, _) = produce_one(&mut stream, "t", -1, transactional_batch(1, 0, (pid, 0, 0)));
    assert_eq!(code, ResponseError::InvalidTxnState.code());
    // Once added, it verifies.
    assert_eq!(add(&mut stream, 3, "v", pid, 0, &[0]), vec![0]);
    assert_eq!(add_batched(&mut stream, 5, "v", (pid, 0), true, &[0]), (vec![0], 0));

    // The checks of an add: unknown id, another producer id, an old epoch, an unknown partition,
    // an empty id.
    let (codes, _) = add_batched(&mut stream, 5, "nope", (pid, 0), true, &[0]);
    assert_eq!(codes, vec![ResponseError::InvalidProducerIdMapping.code()]);
    let (codes, _) = add_batched(&mut stream, 5, "v", (pid + 1, 0), true, &[0]);
    assert_eq!(codes, vec![ResponseError::InvalidProducerIdMapping.code()]);
    let (codes, _) = add_batched(&mut stream, 5, "v", (pid, 7), true, &[0]);
    assert_eq!(codes, vec![ResponseError::ProducerFenced.code()]);
    let (codes, _) = add_batched(&mut stream, 5, "v", (pid, 0), true, &[0, 9]);
    assert_eq!(codes, vec![ResponseError::OperationNotAttempted.code(), ResponseError::UnknownTopicOrPartition.code()]);
    let (codes, _) = add_batched(&mut stream, 5, "", (pid, 0), true, &[0]);
    assert_eq!(codes, vec![ResponseError::InvalidRequest.code()]);

    // After the transaction ends, nothing is in it.
    assert_eq!(end(&mut stream, 4, "v", pid, 0, true), 0);
    let (codes, _) = add_batched(&mut stream, 5, "v", (pid, 0), true, &[0]);
    assert_eq!(codes, vec![ResponseError::TransactionAbortable.code()]);
}

#[test]
fn bad_transaction_requests_get_kafkas_error_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "t", 1, &[]).0, 0);

    assert_eq!(init(&mut stream, 4, "tx", 0).error_code, ResponseError::InvalidTransactionTimeout.code());
    assert_eq!(init(&mut stream, 4, "tx", 900_001).error_code, ResponseError::InvalidTransactionTimeout.code());
    let first = init(&mut stream, 4, "tx", 60_000);
    let pid = first.producer_id.0;

    // Unknown transactional id, another producer's id, an old epoch.
    assert_eq!(add(&mut stream, 3, "nope", pid, 0, &[0]), vec![ResponseError::InvalidProducerIdMapping.code()]);
    assert_eq!(add(&mut stream, 3, "tx", pid + 1, 0, &[0]), vec![ResponseError::InvalidProducerIdMapping.code()]);
    let second = init(&mut stream, 4, "tx", 60_000);
    assert_eq!((second.producer_id.0, second.producer_epoch), (pid, 1));
    assert_eq!(add(&mut stream, 3, "tx", pid, 0, &[0]), vec![ResponseError::ProducerFenced.code()]);
    assert_eq!(
        add(&mut stream, 1, "tx", pid, 0, &[0]),
        vec![ResponseError::InvalidProducerEpoch.code()],
        "before KIP-588"
    );

    // Offsets of a group the transaction did not add.
    assert_eq!(txn_commit(&mut stream, 3, "tx", pid, 1, "g", 5), ResponseError::InvalidTxnState.code());
    assert_eq!(add_offsets(&mut stream, 3, "tx", pid, 0, "g"), ResponseError::ProducerFenced.code());
    // EndTxn with no transaction open.
    assert_eq!(end(&mut stream, 3, "tx", pid, 1, true), ResponseError::InvalidTxnState.code());
    // An unknown partition fails the whole request.
    assert_eq!(
        add(&mut stream, 3, "tx", pid, 1, &[0, 7]),
        vec![ResponseError::OperationNotAttempted.code(), ResponseError::UnknownTopicOrPartition.code()]
    );

    // A batch for a partition not added, and one after EndTxn.
    assert_eq!(add(&mut stream, 3, "tx", pid, 1, &[0]), vec![0]);
    let (code, _) = produce_one(&mut stream, "t", -1, transactional_batch(1, 0, (pid, 1, 0)));
    assert_eq!(code, 0);
    assert_eq!(end(&mut stream, 3, "tx", pid, 1, false), 0);
    let (code, message) = produce_one(&mut stream, "t", -1, transactional_batch(1, 0, (pid, 1, 1)));
    assert_eq!(code, ResponseError::InvalidTxnState.code(), "{message:?}");
    assert_eq!(end(&mut stream, 3, "tx", pid, 1, true), ResponseError::InvalidTxnState.code(), "commit after abort");
    let (code, _) = produce_one(&mut stream, "t", -1, transactional_batch(1, 0, (pid + 99, 0, 0)));
    assert_eq!(code, ResponseError::InvalidProducerIdMapping.code(), "a producer id with no transactional id");
}

#[test]
fn transactions_are_listed_and_described_as_kafka_transactions_sh_shows_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "t", 1, &[]).0, 0);
    let open = init(&mut stream, 4, "open", 60_000).producer_id.0;
    assert_eq!(add(&mut stream, 3, "open", open, 0, &[0]), vec![0]);
    let idle = init(&mut stream, 4, "idle", 60_000).producer_id.0;

    let described: DescribeTransactionsResponse = call(
        &mut stream,
        ApiKey::DescribeTransactions,
        0,
        &DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id("open"), txn_id("nope")]),
    );
    let state = &described.transaction_states[0];
    assert_eq!((state.error_code, state.transaction_state.as_str()), (0, "Ongoing"));
    assert_eq!((state.producer_id.0, state.producer_epoch, state.transaction_timeout_ms), (open, 0, 60_000));
    assert!(state.transaction_start_time_ms > 0);
    assert_eq!((state.topics[0].topic.as_str(), state.topics[0].partitions.as_slice()), ("t", &[0][..]));
    assert_eq!(described.transaction_states[1].error_code, ResponseError::TransactionalIdNotFound.code());

    for version in 0..=1i16 {
        let all: ListTransactionsResponse = call(
            &mut stream,
            ApiKey::ListTransactions,
            version,
            &ListTransactionsRequest::default().with_duration_filter(-1),
        );
        let listed: Vec<(&str, i64, &str)> = all
            .transaction_states
            .iter()
            .map(|s| (s.transactional_id.as_str(), s.producer_id.0, s.transaction_state.as_str()))
            .collect();
        assert_eq!(listed, vec![("idle", idle, "Empty"), ("open", open, "Ongoing")], "v{version}");
    }
    let filtered: ListTransactionsResponse = call(
        &mut stream,
        ApiKey::ListTransactions,
        1,
        &ListTransactionsRequest::default()
            .with_state_filters(vec![StrBytes::from_static_str("Ongoing"), StrBytes::from_static_str("Sleeping")])
            .with_duration_filter(-1),
    );
    assert_eq!(filtered.transaction_states.len(), 1);
    assert_eq!(filtered.unknown_state_filters, vec![StrBytes::from_static_str("Sleeping")]);
    let long_running: ListTransactionsResponse = call(
        &mut stream,
        ApiKey::ListTransactions,
        1,
        &ListTransactionsRequest::default().with_duration_filter(3_600_000),
    );
    assert!(long_running.transaction_states.is_empty(), "none has run for an hour");

    // v2: a regular expression the whole transactional id matches; a bad one is refused.
    let matching = |stream: &mut TcpStream, pattern: &str| -> ListTransactionsResponse {
        call(
            stream,
            ApiKey::ListTransactions,
            2,
            &ListTransactionsRequest::default()
                .with_duration_filter(-1)
                .with_transactional_id_pattern(Some(StrBytes::from_string(pattern.to_string()))),
        )
    };
    let ids = |response: &ListTransactionsResponse| -> Vec<String> {
        response.transaction_states.iter().map(|s| s.transactional_id.as_str().to_string()).collect()
    };
    assert_eq!(ids(&matching(&mut stream, "op.*")), vec!["open"]);
    assert_eq!(ids(&matching(&mut stream, "op")), Vec::<String>::new(), "the whole id must match");
    assert_eq!(ids(&matching(&mut stream, "")), vec!["idle", "open"], "an empty pattern lists all");
    assert_eq!(matching(&mut stream, "(unclosed").error_code, ResponseError::InvalidRegularExpression.code());
}

/// OffsetFetch v7 of "t"-0 for `group`: (error code, committed offset).
fn fetch_offset(stream: &mut TcpStream, group: &str, require_stable: bool) -> (i16, i64) {
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_require_stable(require_stable)
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_indexes(vec![0]),
        ]));
    let response: OffsetFetchResponse = call(stream, ApiKey::OffsetFetch, 7, &request);
    let partition = &response.topics[0].partitions[0];
    (partition.error_code, partition.committed_offset)
}

#[test]
fn an_offset_held_by_an_open_transaction_is_unstable_until_it_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "t", 1, &[]).0, 0);
    let pid = init(&mut stream, 4, "tx", 60_000).producer_id.0;
    assert_eq!(add_offsets(&mut stream, 3, "tx", pid, 0, "g"), 0);
    assert_eq!(txn_commit(&mut stream, 3, "tx", pid, 0, "g", 7), 0);
    // KIP-447: read_committed consumers ask for stable offsets and are told to retry.
    assert_eq!(fetch_offset(&mut stream, "g", true), (ResponseError::UnstableOffsetCommit.code(), -1));
    assert_eq!(fetch_offset(&mut stream, "g", false), (0, -1), "not committed yet");
    assert_eq!(end(&mut stream, 3, "tx", pid, 0, true), 0);
    assert_eq!(fetch_offset(&mut stream, "g", true), (0, 7));
}

#[test]
fn describe_producers_shows_each_producer_and_the_start_of_its_open_transaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "t", 1, &[]).0, 0);
    let pid = init(&mut stream, 5, "p", 60_000).producer_id.0;
    assert_eq!(add(&mut stream, 3, "p", pid, 0, &[0]), vec![0]);
    let (code, _) = produce_one(&mut stream, "t", -1, transactional_batch(3, 0, (pid, 0, 0)));
    assert_eq!(code, 0);

    let describe = |stream: &mut TcpStream| -> DescribeProducersResponse {
        let request = DescribeProducersRequest::default().with_topics(vec![
            TopicRequest::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_indexes(vec![0, 5]),
            TopicRequest::default()
                .with_name(TopicName(StrBytes::from_static_str("nope")))
                .with_partition_indexes(vec![0]),
        ]);
        call(stream, ApiKey::DescribeProducers, 0, &request)
    };
    let open = describe(&mut stream);
    let partition = &open.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    let producer = &partition.active_producers[0];
    assert_eq!(
        (producer.producer_id.0, producer.producer_epoch, producer.last_sequence, producer.current_txn_start_offset),
        (pid, 0, 2, 0),
        "three records at offsets 0-2, the transaction open from offset 0"
    );
    assert!(producer.last_timestamp > 0);
    assert_eq!(open.topics[0].partitions[1].error_code, ResponseError::UnknownTopicOrPartition.code());
    assert_eq!(open.topics[1].partitions[0].error_code, ResponseError::UnknownTopicOrPartition.code());

    assert_eq!(end(&mut stream, 4, "p", pid, 0, true), 0);
    let ended = describe(&mut stream);
    assert_eq!(ended.topics[0].partitions[0].active_producers[0].current_txn_start_offset, -1, "no transaction open");
}

#[test]
fn the_broker_forgets_an_idle_transactional_id_after_transactional_id_expiration_ms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("server.properties");
    std::fs::write(
        &config,
        "transactional.id.expiration.ms=300\ntransaction.remove.expired.transaction.cleanup.interval.ms=100\n",
    )
    .expect("write config");
    let data = dir.path().join("data");
    let broker = BrokerProcess::start_with(&data, "127.0.0.1:0", &["--config", config.to_str().expect("path")]);
    let mut stream = connect(&broker);
    let describe = |stream: &mut TcpStream| -> i16 {
        let request = DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id("idle")]);
        let response: DescribeTransactionsResponse = call(stream, ApiKey::DescribeTransactions, 0, &request);
        response.transaction_states[0].error_code
    };
    assert_eq!(init(&mut stream, 5, "idle", 60_000).error_code, 0);
    assert_eq!(describe(&mut stream), 0, "known right after InitProducerId");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while describe(&mut stream) == 0 {
        assert!(std::time::Instant::now() < deadline, "still known 10 s after a 300 ms expiration");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(describe(&mut stream), ResponseError::TransactionalIdNotFound.code());
}
