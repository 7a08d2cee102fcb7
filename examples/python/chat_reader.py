"""Reads a room as one user, polling in batches and committing by hand: the commit is the
user's bookmark ("I have read up to here"), made only after the messages are shown, so a
crash before it shows them again rather than losing them. Each user is a consumer group of
their own; a second run carries on from the bookmark.

    python chat_reader.py --room general --user bob
"""

import argparse

from confluent_kafka import Consumer, KafkaException


def read(brokers, room, user, idle_seconds=2.0, offset_reset="earliest"):
    """Shows the room's messages from the user's bookmark on; returns them once none came for
    `idle_seconds`."""
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": user,
        "enable.auto.commit": False,       # the bookmark moves only when we say so
        "auto.offset.reset": offset_reset,
    })
    consumer.subscribe([room])
    shown = []
    idle = 0.0
    try:
        while idle < idle_seconds:
            batch = consumer.consume(num_messages=100, timeout=0.5)   # poll a batch at a time
            if not batch:
                idle += 0.5
                continue
            idle = 0.0
            for message in batch:
                if message.error() is not None:
                    raise KafkaException(message.error())
                text = f"{message.key().decode()}: {message.value().decode()}"
                print(text)
                shown.append(text)
            consumer.commit(asynchronous=False)   # put the bookmark after what was shown
    finally:
        consumer.close()
    return shown


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--room", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--idle-seconds", type=float, default=2.0, help="stop after this long without messages")
    args = parser.parse_args()
    read(args.brokers, args.room, args.user, args.idle_seconds)


if __name__ == "__main__":
    main()
