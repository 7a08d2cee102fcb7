"""A newcomer joins a room and reads its past, as the notes describe: first through a
temporary consumer group (new, so it starts from the oldest message), then the user is moved
to their own group, whose bookmark is set where the temporary group stopped, so they go on
with only new messages and nothing in between is missed or shown twice.

    python chat_newcomer.py --room general --user carol
"""

import argparse
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition

from chat_reader import read


def read_history(brokers, room, user):
    """Reads every past message with a temporary group; returns them and, per partition, the
    offset after the last one read."""
    temporary = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"{user}-history-{uuid.uuid4()}",   # a group nobody used: no bookmark yet
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    try:
        partitions = temporary.list_topics(room, timeout=10).topics[room].partitions
        ends = {p: temporary.get_watermark_offsets(TopicPartition(room, p), timeout=10)[1] for p in partitions}
        temporary.assign([TopicPartition(room, p, 0) for p in partitions])
        history, positions = [], {p: 0 for p in partitions}
        while any(positions[p] < ends[p] for p in partitions):
            for message in temporary.consume(num_messages=100, timeout=1.0):
                if message.error() is not None:
                    raise KafkaException(message.error())
                history.append(f"{message.key().decode()}: {message.value().decode()}")
                positions[message.partition()] = message.offset() + 1
        return history, positions
    finally:
        temporary.close()


def join(brokers, room, user, positions):
    """Moves the user to their own group: its bookmark starts where the history ended."""
    own = Consumer({"bootstrap.servers": brokers, "group.id": user, "enable.auto.commit": False})
    try:
        own.commit(offsets=[TopicPartition(room, p, offset) for p, offset in positions.items()], asynchronous=False)
    finally:
        own.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--room", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--idle-seconds", type=float, default=2.0)
    args = parser.parse_args()
    history, positions = read_history(args.brokers, args.room, args.user)
    print(f"--- {len(history)} earlier messages in {args.room} ---")
    for text in history:
        print(text)
    join(args.brokers, args.room, args.user, positions)
    print(f"--- {args.user} joined {args.room}; new messages ---")
    read(args.brokers, args.room, args.user, args.idle_seconds)


if __name__ == "__main__":
    main()
