"""An exactly-once copier in its own process, so a test can SIGKILL it mid-transaction.

Usage: python eos_copier.py BOOTSTRAP GROUP TRANSACTIONAL_ID INPUT OUTPUT [HOLD_AT]
Consumes INPUT (read_committed) as a static member of GROUP and copies each record to the same
partition of OUTPUT, in transactions of up to 500 records that also commit the consumer's
offsets (send_offsets_to_transaction). Prints {"committed": N} after each commit, N being the
records copied by this process so far. With HOLD_AT, the first transaction that takes N to
HOLD_AT or beyond is held open once its records and offsets are sent: it prints {"holding": N}
and waits to be killed.
"""

import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition


def main():
    bootstrap, group, transactional_id, source, sink = sys.argv[1:6]
    hold_at = int(sys.argv[6]) if len(sys.argv) > 6 else None
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        # A restarted copier takes its dead predecessor's place at once (KIP-345) rather than
        # waiting for the session to time out.
        "group.instance.id": transactional_id,
        "session.timeout.ms": 6000,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": transactional_id,
        "linger.ms": 5,
    })
    # Fences the killed predecessor and aborts its open transaction.
    producer.init_transactions(30)
    consumer.subscribe([source])
    copied = 0
    while True:
        messages = consumer.consume(num_messages=500, timeout=0.5)
        records = [m for m in messages if m.error() is None]
        if not records:
            continue
        producer.begin_transaction()
        for message in records:
            producer.produce(sink, value=message.value(), key=message.key(), partition=message.partition())
        positions = {}
        for message in records:
            positions[message.partition()] = message.offset() + 1
        offsets = [TopicPartition(source, partition, offset) for partition, offset in positions.items()]
        producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
        if hold_at is not None and copied + len(records) >= hold_at:
            producer.flush(30)  # the records are in the broker's log, the transaction open
            print(json.dumps({"holding": copied + len(records)}), flush=True)
            time.sleep(3600)
        producer.commit_transaction(30)
        copied += len(records)
        print(json.dumps({"committed": copied}), flush=True)


if __name__ == "__main__":
    main()
