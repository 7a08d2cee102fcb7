#!/usr/bin/env python3
"""Measures what an idle client connection costs a runnel broker: starts a release broker,
opens N connections that each send one ApiVersions request and then stay idle, and reports
the broker's resident memory before and after (VmRSS). Raises its own open-file limit.

Usage: scripts/idle_connections.py [N]   (default 10000; builds target/release/runnel first)"""

import os
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1000), hard))
    subprocess.run(["cargo", "build", "--release", "-p", "runnel"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as data:
        broker = subprocess.Popen(
            [os.path.join(ROOT, "target/release/runnel"), "serve", "--data-dir", data, "--listen", "127.0.0.1:0",
             "--http-listen", "off"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = broker.stdout.readline()
            while not line.startswith("runnel listening on"):
                line = broker.stdout.readline()
            host, port = line.split()[-1].rsplit(":", 1)
            time.sleep(1)
            before = rss_kib(broker.pid)
            connections = []
            for _ in range(count):
                s = socket.create_connection((host, int(port)))
                s.sendall(struct.pack(">ihhih", 10, 18, 0, 1, 0))  # ApiVersions v0
                connections.append(s)
            for s in connections:
                s.recv(65536)
            time.sleep(2)
            after = rss_kib(broker.pid)
            print(f"{count} idle connections: broker RSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB, "
                  f"{(after - before) / count:.1f} KiB per connection")
            for s in connections:
                s.close()
        finally:
            broker.terminate()
            broker.wait()


if __name__ == "__main__":
    main()
