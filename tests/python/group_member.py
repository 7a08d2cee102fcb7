"""A consumer-group member in its own process, so a test can SIGKILL it.

Usage: python group_member.py BOOTSTRAP GROUP TOPIC [classic|consumer]
(the group protocol: classic by default, or KIP-848's consumer protocol)
Prints one JSON line per event: {"assigned": [...]} on each assignment, {"read": [p, o]} for
each record read, then {"committed": [p, next]} once its synchronous commit is acknowledged.
"""

import json
import sys

from confluent_kafka import Consumer


def main():
    bootstrap, group, topic = sys.argv[1:4]
    protocol = sys.argv[4] if len(sys.argv) > 4 else "classic"
    timing = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500} if protocol == "classic" else {}
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "group.protocol": protocol,
        **timing,
    })

    def on_assign(c, partitions):
        print(json.dumps({"assigned": sorted(p.partition for p in partitions)}), flush=True)

    consumer.subscribe([topic], on_assign=on_assign)
    while True:
        message = consumer.poll(0.2)
        if message is None or message.error():
            continue
        print(json.dumps({"read": [message.partition(), message.offset()]}), flush=True)
        consumer.commit(message=message, asynchronous=False)
        print(json.dumps({"committed": [message.partition(), message.offset() + 1]}), flush=True)


if __name__ == "__main__":
    main()
