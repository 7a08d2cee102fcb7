"""Sends chat messages to a room: the room is a topic, the author the record key (so one
author's messages stay in order on one partition).

    python chat_producer.py --room general --user alice "hello" "anyone here?"
"""

import argparse

from confluent_kafka import Producer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--room", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("messages", nargs="+")
    args = parser.parse_args()

    producer = Producer({"bootstrap.servers": args.brokers, "acks": "all", "enable.idempotence": True})
    failures = []

    def delivered(error, message):
        if error is not None:
            failures.append(error)
        else:
            print(f"sent to {message.topic()}[{message.partition()}] at offset {message.offset()}")

    for text in args.messages:
        producer.produce(args.room, key=args.user, value=text, on_delivery=delivered)
    producer.flush(30)
    if failures:
        raise SystemExit(f"not delivered: {failures[0]}")


if __name__ == "__main__":
    main()
