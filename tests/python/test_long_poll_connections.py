"""Many consumers long-polling one broker (scripts/long_poll_connections.py, whose release-build
run at 10,000 connections is in docs/benchmarks.md): 2,000 connections each park a Fetch at the
end of a topic; each of three produced records reaches every one of them. Latency is reported,
not asserted (this is a debug build on a shared machine)."""

import os
import resource
import sys
import tempfile

import pytest

from conftest import Broker

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../scripts"))
import long_poll_connections  # noqa: E402

CONNECTIONS = 2000


@pytest.fixture
def broker():
    with tempfile.TemporaryDirectory() as data:
        b = Broker(data)
        yield b
        b.stop()


def test_every_long_polling_connection_gets_each_new_record(broker):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < CONNECTIONS + 500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, CONNECTIONS + 500), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= CONNECTIONS + 200, "raise the open-file limit"
    latencies, before, rss = long_poll_connections.measure(broker.bootstrap, broker.process.pid, CONNECTIONS, 3)
    # measure() raises unless every connection got every record; three rounds of answers here.
    assert len(latencies) == 3 * CONNECTIONS
    p99 = long_poll_connections.percentile(latencies, 99)
    print(f"{CONNECTIONS} long-polling connections: p99 {p99:.1f} ms, "
          f"{(rss - before) / CONNECTIONS:.1f} KiB of broker RSS each")
