"""confluent-kafka (the client of the user's notes) against runnel: Producer, Consumer with
assign and seek, and every AdminClient call the broker core serves."""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from conftest import new_consumer

RECORDS = 20_000
PARTITIONS = 8


def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def wait_all(futures):
    return {name: future.result(timeout=30) for name, future in futures.items()}


def consume(consumer, count, timeout=60):
    records = []
    deadline = time.time() + timeout
    while len(records) < count:
        assert time.time() < deadline, f"timed out after {len(records)} of {count} records"
        for message in consumer.consume(num_messages=1000, timeout=0.5):
            assert message.error() is None, message.error()
            records.append(message)
    return records


def test_producer_and_consumer_round_trip_keys_headers_and_timestamps_in_order(broker):
    client = admin(broker)  # kept alive until its futures resolve
    wait_all(client.create_topics([NewTopic("py-events", PARTITIONS, 1)]))
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5})
    acked = []

    def on_delivery(err, message):
        assert err is None, err
        acked.append((message.partition(), message.offset()))

    base_ts = 1_700_000_000_000
    for n in range(RECORDS):
        partition, seq = n % PARTITIONS, n // PARTITIONS
        producer.produce(
            "py-events",
            key=f"key-{partition}-{seq}",
            value=f"value-{partition}-{seq}",
            partition=partition,
            timestamp=base_ts + n,
            headers=[("seq", str(seq).encode())],
            on_delivery=on_delivery,
        )
        if n % 5000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    assert len(acked) == RECORDS

    consumer = new_consumer({"bootstrap.servers": broker.bootstrap, "group.id": "py-check", "enable.auto.commit": False})
    consumer.assign([TopicPartition("py-events", p, 0) for p in range(PARTITIONS)])
    next_seq = {p: 0 for p in range(PARTITIONS)}
    for message in consume(consumer, RECORDS):
        partition, seq = message.partition(), next_seq[message.partition()]
        assert message.key() == f"key-{partition}-{seq}".encode()
        assert message.value() == f"value-{partition}-{seq}".encode()
        assert message.headers() == [("seq", str(seq).encode())]
        assert message.timestamp() == (1, base_ts + seq * PARTITIONS + partition)
        assert message.offset() == seq
        next_seq[partition] += 1
    assert sum(next_seq.values()) == RECORDS
    low, high = consumer.get_watermark_offsets(TopicPartition("py-events", 3), timeout=10)
    assert (low, high) == (0, RECORDS // PARTITIONS)
    consumer.close()


def test_seek_and_offsets_for_times_position_a_consumer(broker):
    client = admin(broker)
    wait_all(client.create_topics([NewTopic("py-seek", 1, 1)]))
    producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
    for n in range(100):
        producer.produce("py-seek", value=str(n), timestamp=10_000 + n * 10)
    assert producer.flush(30) == 0

    consumer = new_consumer({"bootstrap.servers": broker.bootstrap, "group.id": "py-seek", "enable.auto.commit": False})
    consumer.assign([TopicPartition("py-seek", 0, 0)])
    assert consume(consumer, 1)[0].value() == b"0"
    consumer.seek(TopicPartition("py-seek", 0, 42))
    assert consume(consumer, 1)[0].value() == b"42"
    found = consumer.offsets_for_times([TopicPartition("py-seek", 0, 10_000 + 70 * 10 - 5)], timeout=10)
    assert found[0].offset == 70
    consumer.seek(found[0])
    assert [int(m.value()) for m in consume(consumer, 30)] == list(range(70, 100))
    consumer.close()


def test_admin_client_creates_grows_describes_and_deletes_topics(broker):
    client = admin(broker)
    wait_all(client.create_topics([NewTopic("py-admin", 2, 1, config={"retention.ms": "3600000"})]))
    with pytest.raises(KafkaException) as exists:
        wait_all(client.create_topics([NewTopic("py-admin", 2, 1)]))
    assert exists.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    wait_all(client.create_topics([NewTopic("py-validated", 1, 1)], validate_only=True))
    assert "py-validated" not in client.list_topics(timeout=10).topics

    topics = client.list_topics(timeout=10).topics
    assert len(topics["py-admin"].partitions) == 2

    wait_all(client.create_partitions([NewPartitions("py-admin", 4)]))
    assert len(client.list_topics(topic="py-admin", timeout=10).topics["py-admin"].partitions) == 4
    with pytest.raises(KafkaException) as refused:
        wait_all(client.create_partitions([NewPartitions("py-admin", 3)]))
    error = refused.value.args[0]
    assert error.code() == KafkaError.INVALID_PARTITIONS
    assert "partitions can be added but never removed" in error.str()
    assert len(client.list_topics(topic="py-admin", timeout=10).topics["py-admin"].partitions) == 4

    described = wait_all(client.describe_configs([ConfigResource("topic", "py-admin")]))
    configs = next(iter(described.values()))
    assert configs["retention.ms"].value == "3600000"
    assert configs["cleanup.policy"].value == "delete"
    cluster = client.describe_cluster().result(timeout=30)
    assert len(cluster.cluster_id) == 22 and len(cluster.nodes) == 1
    assert cluster.controller.id == cluster.nodes[0].id == 1
    broker_configs = wait_all(client.describe_configs([ConfigResource("broker", "1")]))
    assert next(iter(broker_configs.values()))["num.partitions"].value == "1"

    wait_all(client.delete_topics(["py-admin"]))
    deadline = time.time() + 10
    while "py-admin" in client.list_topics(timeout=10).topics:
        assert time.time() < deadline
        time.sleep(0.1)
    with pytest.raises(KafkaException) as unknown:
        wait_all(client.delete_topics(["py-admin"]))
    assert unknown.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_metadata_auto_creates_a_topic_on_first_produce(broker):
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("py-auto", value=b"hello")
    assert producer.flush(30) == 0
    metadata = admin(broker).list_topics(topic="py-auto", timeout=10)
    assert len(metadata.topics["py-auto"].partitions) == 1
    assert metadata.cluster_id and len(metadata.cluster_id) == 22
