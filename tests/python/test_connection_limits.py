"""max.connections.per.ip: a client over its limit has each new connection closed at once
(logged and counted in runnel_connections_refused_total) while its open connections and
everyone else go on; a connection that closes frees its place."""

import socket
import struct
import tempfile
import urllib.request

from confluent_kafka.admin import AdminClient

from conftest import broker_with_properties


def api_versions(s):
    """Sends ApiVersions v0 and returns the answer's correlation id, or None if closed."""
    try:
        s.sendall(struct.pack(">ihhih", 10, 18, 0, 5, 0))
        size = s.recv(4)
    except (ConnectionResetError, BrokenPipeError):
        return None
    if len(size) < 4:
        return None
    body = b""
    while len(body) < struct.unpack(">i", size)[0]:
        chunk = s.recv(65536)
        if not chunk:
            return None
        body += chunk
    return struct.unpack(">i", body[:4])[0]


def test_connections_over_the_per_ip_limit_are_closed_at_once():
    with tempfile.TemporaryDirectory() as work:
        b = broker_with_properties(work, "listeners=PLAINTEXT://127.0.0.1:0\nmax.connections.per.ip=3\n")
        try:
            host, port = b.bootstrap.rsplit(":", 1)
            held = [socket.create_connection((host, int(port)), timeout=10) for _ in range(3)]
            assert [api_versions(s) for s in held] == [5, 5, 5]
            with socket.create_connection((host, int(port)), timeout=10) as extra:
                assert api_versions(extra) is None, "the fourth connection from one address is closed"
            metrics = urllib.request.urlopen(f"{b.http}/metrics", timeout=10).read().decode()
            refused = next(l for l in metrics.splitlines() if l.startswith("runnel_connections_refused_total "))
            assert float(refused.split()[1]) >= 1, refused
            assert [api_versions(s) for s in held] == [5, 5, 5], "open connections are still served"
            held.pop().close()
            # The freed place takes a real client (it needs one connection for this request).
            topics = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=15)
            assert topics.brokers
            for s in held:
                s.close()
        finally:
            b.stop()
