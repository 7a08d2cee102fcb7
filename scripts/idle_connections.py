#!/usr/bin/env python3
"""Measures what an idle client connection costs a runnel broker: starts a release broker,
opens N connections that each send one ApiVersions request and then stay idle, and reports
the broker's resident memory before and after (VmRSS). Raises its own open-file limit.

Usage: scripts/idle_connections.py [N]   (default 10000; builds target/release/runnel first)"""

import socket
import struct
import sys
import time

from release_broker import release_broker, rss_kib

def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    with release_broker(count) as (bootstrap, pid):
        host, port = bootstrap.rsplit(":", 1)
        time.sleep(1)
        before = rss_kib(pid)
        connections = []
        for _ in range(count):
            s = socket.create_connection((host, int(port)))
            s.sendall(struct.pack(">ihhih", 10, 18, 0, 1, 0))  # ApiVersions v0
            connections.append(s)
        for s in connections:
            s.recv(65536)
        time.sleep(2)
        after = rss_kib(pid)
        print(f"{count} idle connections: broker RSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB, "
              f"{(after - before) / count:.1f} KiB per connection")
        for s in connections:
            s.close()


if __name__ == "__main__":
    main()
