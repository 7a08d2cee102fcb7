"""Operator calls through confluent-kafka's AdminClient: IncrementalAlterConfigs and AlterConfigs
on topics and on the broker's dynamic configs (validated with Kafka's error codes, reported with
their sources by DescribeConfigs, applied to live data, kept across a restart), DeleteRecords,
and leader election answered as a one-replica cluster answers it."""

import tempfile
import time

import pytest
from confluent_kafka import ElectionType, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, NewTopic

from conftest import broker_with_properties, new_consumer


def wait_all(futures):
    return {name: future.result(timeout=30) for name, future in futures.items()}


def configs_of(client, kind, name):
    return next(iter(wait_all(client.describe_configs([ConfigResource(kind, name)])).values()))


def alter(client, kind, name, *changes):
    entries = [ConfigEntry(key, value, incremental_operation=op) for key, value, op in changes]
    wait_all(client.incremental_alter_configs([ConfigResource(kind, name, incremental_configs=entries)]))


def refusal(client, kind, name, *changes):
    with pytest.raises(KafkaException) as refused:
        alter(client, kind, name, *changes)
    return refused.value.args[0]


def watermarks(bootstrap, topic):
    consumer = new_consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        consumer.close()


@pytest.fixture()
def data_dir():
    with tempfile.TemporaryDirectory() as directory:
        yield directory


def start(data_dir):
    return broker_with_properties(data_dir, "log.retention.check.interval.ms=200\n")


def test_topic_and_broker_configs_change_live_data_and_survive_a_restart(data_dir):
    broker = start(data_dir)
    try:
        client = AdminClient({"bootstrap.servers": broker.bootstrap})
        wait_all(client.create_topics([NewTopic("cfg-live", 1, 1, config={"segment.bytes": "4096"})]))
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
        an_hour_ago = int(time.time() * 1000) - 3_600_000
        for i in range(200):
            producer.produce("cfg-live", value=b"x" * 200, key=str(i).encode(), timestamp=an_hour_ago)
        assert producer.flush(30) == 0
        assert watermarks(broker.bootstrap, "cfg-live") == (0, 200)

        # Lowering retention.ms deletes the hour-old segments at the next retention check.
        alter(client, "topic", "cfg-live", ("retention.ms", "60000", AlterConfigOpType.SET))
        deadline = time.time() + 10
        while watermarks(broker.bootstrap, "cfg-live")[0] < 200:
            assert time.time() < deadline, f"retention did not run: {watermarks(broker.bootstrap, 'cfg-live')}"
            time.sleep(0.2)

        configs = configs_of(client, "topic", "cfg-live")
        assert configs["retention.ms"].value == "60000"
        assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        assert configs["segment.bytes"].value == "4096"
        assert configs["retention.bytes"].source == ConfigSource.DEFAULT_CONFIG.value

        # APPEND and SUBTRACT work on list configs, starting from the inherited value.
        alter(client, "topic", "cfg-live", ("cleanup.policy", "compact", AlterConfigOpType.APPEND))
        assert configs_of(client, "topic", "cfg-live")["cleanup.policy"].value == "delete,compact"
        alter(client, "topic", "cfg-live", ("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT),
              ("segment.bytes", None, AlterConfigOpType.DELETE))
        configs = configs_of(client, "topic", "cfg-live")
        assert configs["cleanup.policy"].value == "compact"
        assert configs["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value

        # Refusals carry Kafka's codes and name what is wrong.
        bad = refusal(client, "topic", "cfg-live", ("retention.ms", "soon", AlterConfigOpType.SET))
        assert bad.code() == KafkaError.INVALID_CONFIG and "soon" in bad.str(), bad
        bad = refusal(client, "topic", "cfg-live", ("retention.ms", "5", AlterConfigOpType.APPEND))
        assert bad.code() == KafkaError.INVALID_CONFIG, bad
        bad = refusal(client, "topic", "cfg-live", ("no.such.config", "1", AlterConfigOpType.SET))
        assert bad.code() == KafkaError.INVALID_CONFIG and "no.such.config" in bad.str(), bad
        bad = refusal(client, "topic", "cfg-missing", ("retention.ms", "1", AlterConfigOpType.SET))
        assert bad.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, bad
        assert configs_of(client, "topic", "cfg-live")["retention.ms"].value == "60000"

        # validate_only checks without changing.
        entries = [ConfigEntry("retention.ms", "1234", incremental_operation=AlterConfigOpType.SET)]
        wait_all(client.incremental_alter_configs([ConfigResource("topic", "cfg-live", incremental_configs=entries)],
                                                  validate_only=True))
        assert configs_of(client, "topic", "cfg-live")["retention.ms"].value == "60000"

        # The broker's dynamic configs, under topic overrides (librdkafka cannot name the
        # cluster-wide default, resource "": the Java test covers it).
        alter(client, "broker", "1", ("log.retention.bytes", "2000000", AlterConfigOpType.SET))
        topic = configs_of(client, "topic", "cfg-live")["retention.bytes"]
        assert (topic.value, topic.source) == ("2000000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
        broker_side = configs_of(client, "broker", "1")["log.retention.bytes"]
        assert (broker_side.value, broker_side.is_read_only) == ("2000000", False)
        assert configs_of(client, "broker", "1")["num.partitions"].is_read_only
        bad = refusal(client, "broker", "1", ("num.partitions", "3", AlterConfigOpType.SET))
        assert bad.code() == KafkaError.INVALID_REQUEST and "num.partitions" in bad.str(), bad
        bad = refusal(client, "broker", "1", ("log.segment.bytes", "-5", AlterConfigOpType.SET))
        assert bad.code() == KafkaError.INVALID_CONFIG and "log.segment.bytes" in bad.str(), bad
    finally:
        broker.stop()

    broker = start(data_dir)
    try:
        client = AdminClient({"bootstrap.servers": broker.bootstrap})
        configs = configs_of(client, "topic", "cfg-live")
        assert configs["retention.ms"].value == "60000"
        assert configs["cleanup.policy"].value == "compact"
        assert (configs["retention.bytes"].value, configs["retention.bytes"].source) == (
            "2000000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
        # Deleting the broker's value falls back to Kafka's default.
        alter(client, "broker", "1", ("log.retention.bytes", None, AlterConfigOpType.DELETE))
        retention = configs_of(client, "topic", "cfg-live")["retention.bytes"]
        assert (retention.value, retention.source) == ("-1", ConfigSource.DEFAULT_CONFIG.value)

        # The older AlterConfigs replaces the whole set: what it leaves out is reset.
        wait_all(client.alter_configs([ConfigResource("topic", "cfg-live", set_config={"retention.ms": "90000"})]))
        configs = configs_of(client, "topic", "cfg-live")
        assert configs["retention.ms"].value == "90000"
        assert configs["cleanup.policy"].value == "delete"
    finally:
        broker.stop()


def test_delete_records_trims_a_partition_for_consumers_and_survives_a_restart(data_dir):
    broker = start(data_dir)
    try:
        client = AdminClient({"bootstrap.servers": broker.bootstrap})
        wait_all(client.create_topics([NewTopic("trimmed", 1, 1, config={"segment.bytes": "4096"})]))
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
        for i in range(300):
            producer.produce("trimmed", value=str(i).encode() * 20)
        assert producer.flush(30) == 0

        deleted = wait_all(client.delete_records([TopicPartition("trimmed", 0, 120)]))
        assert next(iter(deleted.values())).low_watermark == 120, deleted
        assert watermarks(broker.bootstrap, "trimmed") == (120, 300)
        with pytest.raises(KafkaException) as refused:
            wait_all(client.delete_records([TopicPartition("trimmed", 0, 301)]))
        assert refused.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE

        # A new consumer reading from the beginning starts at the new log start.
        consumer = new_consumer({"bootstrap.servers": broker.bootstrap, "group.id": "after-trim",
                                 "auto.offset.reset": "earliest"})
        consumer.subscribe(["trimmed"])
        first = None
        deadline = time.time() + 30
        while first is None:
            assert time.time() < deadline
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                first = message
        assert (first.offset(), first.value()) == (120, b"120" * 20)
        consumer.close()

        elected = client.elect_leaders(ElectionType.PREFERRED, [TopicPartition("trimmed", 0)]).result(timeout=30)
        assert [error.code() for error in elected.values()] == [KafkaError.ELECTION_NOT_NEEDED], elected
    finally:
        broker.stop()

    broker = start(data_dir)
    try:
        assert watermarks(broker.bootstrap, "trimmed") == (120, 300)
    finally:
        broker.stop()


def test_a_compacted_topic_refuses_records_without_a_key(broker):
    client = AdminClient({"bootstrap.servers": broker.bootstrap})
    wait_all(client.create_topics([NewTopic("keyed-only", 1, 1, config={"cleanup.policy": "compact"})]))
    outcomes = {}
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 50})
    for i in range(10):
        key = None if i % 5 == 0 else f"k{i}".encode()
        producer.produce("keyed-only", value=b"v", key=key,
                         on_delivery=lambda err, msg, i=i: outcomes.__setitem__(i, err))
    assert producer.flush(30) == 0
    # The keyless records fail with INVALID_RECORD; the others in their batch are refused with
    # them (librdkafka's _INVALID_DIFFERENT_RECORD) and none is stored.
    assert [i for i, err in outcomes.items() if err and err.code() == KafkaError.INVALID_RECORD] == [0, 5], outcomes
    assert watermarks(broker.bootstrap, "keyed-only") == (0, 0)
    for i in range(3):
        producer.produce("keyed-only", value=b"v", key=f"k{i}".encode())
    assert producer.flush(30) == 0
    assert watermarks(broker.bootstrap, "keyed-only") == (0, 3)
