#!/usr/bin/env python3
"""Many consumers long-polling one broker: starts a release broker, opens N connections that
each send a Fetch (v4, max_wait 60 s, min_bytes 1) at the end of a one-partition topic, so all
N wait in the broker; then a producer (confluent-kafka) writes one record and the script times
how long each waiting connection takes to get it (and the broker's CPU time for the round).
Repeats for a few rounds and reports the
delivery latency percentiles over every connection and round, and the broker's resident memory
per connection while they wait.

Usage: scripts/long_poll_connections.py [N] [ROUNDS]   (default 10000 and 5; builds
target/release/runnel first; run it with the test venv's python, which has confluent-kafka)"""

import os
import selectors
import socket
import struct
import sys
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from release_broker import release_broker, rss_kib

TOPIC = "long-poll"


def cpu_ms(pid):
    """User plus system CPU time of a process, in ms."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def fetch_request(correlation, offset):
    """Fetch v4 for partition 0 of TOPIC from `offset`, waiting up to 60 s for one byte."""
    client = b"poller"
    topic = TOPIC.encode()
    body = struct.pack(">iiiib", -1, 60_000, 1, 1 << 20, 0)  # replica, max wait, min bytes, max bytes, isolation
    body += struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic
    body += struct.pack(">i", 1) + struct.pack(">iqi", 0, offset, 1 << 20)
    header = struct.pack(">hhih", 1, 4, correlation, len(client)) + client
    frame = header + body
    return struct.pack(">i", len(frame)) + frame


class Poller:
    """One connection with one Fetch in flight; collects the bytes of its answer."""

    def __init__(self, address):
        self.socket = socket.create_connection(address)
        self.socket.setblocking(False)
        self.buffer = b""
        self.answered_at = None

    def send(self, correlation, offset):
        self.buffer = b""
        self.answered_at = None
        self.socket.setblocking(True)
        self.socket.sendall(fetch_request(correlation, offset))
        self.socket.setblocking(False)

    def read(self):
        chunk = self.socket.recv(1 << 16)
        if not chunk:
            raise RuntimeError("the broker closed a connection")
        self.buffer += chunk
        if len(self.buffer) >= 4 and len(self.buffer) >= 4 + struct.unpack(">i", self.buffer[:4])[0]:
            self.answered_at = time.perf_counter()


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


def measure(bootstrap, broker_pid, count, rounds, report=print):
    """Opens `count` long-polling connections to the broker at `bootstrap` (process
    `broker_pid`) and produces one record per round; returns (latencies in ms over every
    connection and round, broker RSS in KiB before the connections, the most while they wait).
    Raises if a round leaves a connection without the record for 30 s."""
    host, port = bootstrap.rsplit(":", 1)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    producer.produce(TOPIC, b"warm-up")
    producer.flush()
    time.sleep(1)
    before = rss_kib(broker_pid)
    report(f"==> opening {count} connections")
    pollers = [Poller((host, int(port))) for _ in range(count)]
    selector = selectors.DefaultSelector()
    for p in pollers:
        selector.register(p.socket, selectors.EVENT_READ, p)
    latencies = []
    waiting_rss = []
    try:
        for round_ in range(rounds):
            offset = round_ + 1  # the warm-up record is at 0; each round adds one
            for i, p in enumerate(pollers):
                p.send(i, offset)
            time.sleep(2)  # every Fetch is now parked in the broker
            waiting_rss.append(rss_kib(broker_pid))
            cpu_before = cpu_ms(broker_pid)
            sent = time.perf_counter()
            # The producer waits for its acknowledgement in a thread of its own (librdkafka
            # releases the GIL), so this loop reads each answer as it arrives.
            writer = threading.Thread(target=lambda: (producer.produce(TOPIC, f"round {round_}".encode()), producer.flush()))
            writer.start()
            pending = count
            deadline = sent + 30
            while pending and time.perf_counter() < deadline:
                for key, _ in selector.select(timeout=1):
                    poller = key.data
                    was = poller.answered_at
                    poller.read()
                    if was is None and poller.answered_at is not None:
                        pending -= 1
            writer.join()
            if pending:
                raise RuntimeError(f"round {round_}: {pending} of {count} connections got nothing in 30 s")
            broker_cpu = cpu_ms(broker_pid) - cpu_before
            round_latencies = sorted((p.answered_at - sent) * 1000 for p in pollers)
            latencies.extend(round_latencies)
            report(f"round {round_ + 1}: all {count} got the record; first {round_latencies[0]:.1f} ms, "
                   f"p50 {percentile(round_latencies, 50):.1f} ms, p99 {percentile(round_latencies, 99):.1f} ms, "
                   f"last {round_latencies[-1]:.1f} ms; broker CPU {broker_cpu:.0f} ms")
    finally:
        for p in pollers:
            p.socket.close()
    return sorted(latencies), before, max(waiting_rss)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with release_broker(count) as (bootstrap, pid):
        latencies, before, rss = measure(bootstrap, pid, count, rounds, lambda text: print(text, flush=True))
        print(f"{count} long-polling connections x {rounds} rounds: delivery p50 {percentile(latencies, 50):.1f} ms, "
              f"p99 {percentile(latencies, 99):.1f} ms, max {latencies[-1]:.1f} ms; broker RSS {before / 1024:.1f} MiB "
              f"-> {rss / 1024:.1f} MiB while they wait, {(rss - before) / count:.1f} KiB per connection")


if __name__ == "__main__":
    main()
