"""Many people long-polling one chat server (scripts/chat_long_poll.py, whose release-build run
at 1,000 users is in docs/benchmarks.md): 300 users wait for a room's next message, one posts,
and every one of them gets exactly that message, in each of three rounds. The waiting users
share one follower of the room: the broker sees a handful of client connections, not one per
waiting reader. Latency is reported, not asserted (a debug build on a shared machine)."""

import os
import resource
import sys
import tempfile

from conftest import Broker
from test_chat_api import Chat

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../scripts"))
import chat_long_poll  # noqa: E402

USERS = 300


def test_waiting_users_all_get_each_post_through_one_follower():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * USERS + 500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * USERS + 500), hard))
    with tempfile.TemporaryDirectory() as data:
        broker = Broker(data)
        chat = Chat(brokers=broker.bootstrap)
        try:
            latencies, before, during, connections = chat_long_poll.measure(
                chat.url, chat.process.pid, USERS, 3, lambda: chat_long_poll.broker_connections(broker.http))
            assert len(latencies) == 3 * USERS  # measure() checked each user got the one new message
            # The chat's producer, admin, follower and a reader or two: nowhere near one per user.
            assert connections is not None and connections < 30, connections
            print(f"{USERS} users: p99 {chat_long_poll.percentile(latencies, 99):.1f} ms, chat RSS "
                  f"{before / 1024:.1f} -> {during / 1024:.1f} MiB, broker connections {connections}")
        finally:
            chat.stop()
            broker.stop()
