"""Log compaction with confluent-kafka: a keyed topic with many updates per key and tombstones,
made compacted by a live config change,
compacts to the last value per key at unchanged offsets; a consumer reading from offset 0
before and after sees the same final state; tombstones go after delete.retention.ms."""

import tempfile
import time

from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from conftest import broker_with_properties, new_consumer

KEYS = 50
ROUNDS = 40


def read_all(bootstrap, topic):
    """(offset, key, value) of every record from offset 0 to the high watermark."""
    consumer = new_consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{time.time()}",
                             "enable.auto.commit": False})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, low)])
        records = []
        deadline = time.time() + 30
        while not records or records[-1][0] < high - 1:
            assert time.time() < deadline, f"read {len(records)} records, last {records[-1:]} of {high}"
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                assert message.error() is None, message.error()
                value = None if message.value() is None else message.value().decode()
                records.append((message.offset(), message.key().decode(), value))
        return records
    finally:
        consumer.close()


def final_state(records):
    state = {}
    for offset, key, value in records:
        state[key] = (offset, value)
    return {k: v for k, v in state.items()}


def produce_rounds(bootstrap, rounds, first_round=0, delete_every=10):
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for r in range(first_round, first_round + rounds):
        for k in range(KEYS):
            # Every tenth key is deleted in the last round.
            value = None if (r == first_round + rounds - 1 and k % delete_every == 0) else f"{k}-{r}-" + "x" * 100
            producer.produce("compacted", key=f"key-{k}", value=value)
        # A batch per round, so the rounds spread over segments.
        assert producer.flush(30) == 0


def test_a_compacted_topic_keeps_the_last_value_per_key_at_its_offset():
    with tempfile.TemporaryDirectory() as work:
        broker = broker_with_properties(work, "log.cleaner.backoff.ms=100\n")
        try:
            client = AdminClient({"bootstrap.servers": broker.bootstrap})
            # Created with `delete` so that nothing is cleaned before the first read; made
            # compacted after it, by a live config change.
            configs = {"cleanup.policy": "delete", "segment.bytes": "16384", "delete.retention.ms": "3000",
                       "min.cleanable.dirty.ratio": "0.1"}
            for future in client.create_topics([NewTopic("compacted", 1, 1, config=configs)]).values():
                future.result(timeout=30)
            produce_rounds(broker.bootstrap, ROUNDS)
            before = read_all(broker.bootstrap, "compacted")
            assert len(before) == KEYS * ROUNDS
            expected = final_state(before)
            compact = [ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET)]
            for future in client.incremental_alter_configs(
                    [ConfigResource("topic", "compacted", incremental_configs=compact)]).values():
                future.result(timeout=30)

            # The cleaner runs in the background: wait until it has removed the superseded records.
            deadline = time.time() + 30
            while True:
                after = read_all(broker.bootstrap, "compacted")
                if len(after) <= KEYS * 3:
                    break
                assert time.time() < deadline, f"still {len(after)} records"
                time.sleep(0.2)
            assert final_state(after) == expected, "the same last value per key, at the same offset"
            offsets = [o for o, _, _ in after]
            assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
            tombstones = [r for r in after if r[2] is None]
            assert tombstones, "tombstones stay within delete.retention.ms"

            # Past delete.retention.ms, the next pass (new data makes the log dirty again) drops them.
            time.sleep(3.5)
            produce_rounds(broker.bootstrap, 20, first_round=ROUNDS, delete_every=1_000_000)
            deadline = time.time() + 30
            while True:
                latest = read_all(broker.bootstrap, "compacted")
                old_tombstones = [r for r in latest if r[2] is None and r[0] < KEYS * ROUNDS]
                if not old_tombstones and len(latest) <= KEYS * 3:
                    break
                assert time.time() < deadline, f"{len(old_tombstones)} old tombstones, {len(latest)} records"
                time.sleep(0.2)
            # Keys deleted earlier and written again since: their new values stand.
            assert {k for _, k, _ in latest} == {f"key-{k}" for k in range(KEYS)}
        finally:
            broker.stop()
