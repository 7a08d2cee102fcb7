"""The chat's JSON API against a real broker: order of posts, newcomer history, bookmarks and
unread counts across a chat restart, two chat servers on the same rooms, a waiting read woken
by a post, retried posts, and bad input answered 4xx."""

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import RUNNEL_BIN


class Chat:
    """A `runnel chat` process on a free port, on the test's broker."""

    def __init__(self, brokers=None, data_dir=None, env=None, extra_args=()):
        command = [RUNNEL_BIN, "chat", "--listen", "127.0.0.1:0", *extra_args]
        command += ["--brokers", brokers] if brokers else ["--data-dir", str(data_dir)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        line = self.process.stdout.readline().strip()
        prefix = "runnel chat listening on "
        assert line.startswith(prefix), f"unexpected first line from runnel chat: {line!r}"
        self.url = line[len(prefix):].split(" ")[0]
        self.brokers = line.rsplit("(brokers ", 1)[1].rstrip(")")

    def call(self, method, path, body=None, token=None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def call_text(self, method, path):
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()

    def post(self, room, user, text, **extra):
        status, body = self.call("POST", f"/api/rooms/{room}/messages", {"user": user, "text": text, **extra})
        assert status == 200, body
        return body["offset"]

    def read(self, room, user, **query):
        params = "&".join(f"{k}={v}" for k, v in {"user": user, **query}.items())
        status, body = self.call("GET", f"/api/rooms/{room}/messages?{params}")
        assert status == 200, body
        return body["messages"]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture()
def chat(broker):
    c = Chat(broker.bootstrap)
    yield c
    c.stop()


def test_posts_keep_their_order_and_a_newcomer_reads_the_history(chat):
    offsets = [chat.post("history", "ann", f"message {i}") for i in range(30)]
    assert offsets == list(range(30))
    messages = chat.read("history", "newcomer", max=500)
    assert [m["text"] for m in messages] == [f"message {i}" for i in range(30)]
    assert [m["user"] for m in messages] == ["ann"] * 30
    # Paginated: after an offset, at most max.
    page = chat.read("history", "newcomer", after=9, max=5)
    assert [m["offset"] for m in page] == [10, 11, 12, 13, 14]


def test_a_retried_post_is_not_shown_twice(chat):
    first = chat.post("retries", "ann", "only once", id="client-1")
    again = chat.post("retries", "ann", "only once", id="client-1")
    assert first == again
    assert [m["text"] for m in chat.read("retries", "bob")] == ["only once"]


def test_bookmarks_and_unread_counts_survive_a_chat_restart_and_serve_another_server(broker, chat):
    for i in range(5):
        chat.post("bookmarks", "ann", f"m{i}")
    status, body = chat.call("POST", "/api/rooms/bookmarks/read", {"user": "bob", "offset": 2})
    assert (status, body) == (200, {"bookmark": 3})
    status, rooms = chat.call("GET", "/api/rooms?user=bob")
    assert {"name": "bookmarks", "unread": 2} in rooms["rooms"]
    chat.stop()

    restarted = Chat(broker.bootstrap)
    other = Chat(broker.bootstrap)
    try:
        # Another device of bob resumes at the bookmark, on either server.
        assert [m["text"] for m in restarted.read("bookmarks", "bob")] == ["m3", "m4"]
        assert [m["text"] for m in other.read("bookmarks", "bob")] == ["m3", "m4"]
        # A post on one server is read on the other, in the same order.
        other.post("bookmarks", "carol", "from the other server")
        assert restarted.read("bookmarks", "bob", after=4)[0]["text"] == "from the other server"
        status, rooms = other.call("GET", "/api/rooms?user=bob")
        assert {"name": "bookmarks", "unread": 3} in rooms["rooms"]
    finally:
        restarted.stop()
        other.stop()


def test_a_waiting_read_is_answered_soon_after_a_post(chat):
    chat.post("live", "ann", "before")
    results = {}

    def wait_for_next():
        started = time.monotonic()
        results["messages"] = chat.read("live", "bob", after=0, wait=10000)
        results["returned_at"] = time.monotonic()
        results["started"] = started

    waiter = threading.Thread(target=wait_for_next)
    waiter.start()
    time.sleep(1.0)
    posting = time.monotonic()
    chat.post("live", "ann", "now")
    posted = time.monotonic()
    waiter.join(timeout=15)
    assert [m["text"] for m in results["messages"]] == ["now"]
    # It waited for the post rather than returning early...
    assert posting - results["started"] > 0.9
    print(f"post took {(posted - posting) * 1000:.0f} ms; the waiting read returned "
          f"{(results['returned_at'] - posting) * 1000:.0f} ms after the post was sent")
    # ...and was answered within 50 ms of the post, not at its 10 s deadline.
    assert results["returned_at"] - posted < 0.05


@pytest.mark.parametrize("method,path,body,status", [
    ("POST", "/api/rooms/bad%20room/messages", {"user": "ann", "text": "x"}, 400),
    ("POST", "/api/rooms/ok/messages", b"not json", 400),
    ("POST", "/api/rooms/ok/messages", {"user": "ann"}, 400),
    ("POST", "/api/rooms/ok/messages", {"user": "a b", "text": "x"}, 400),
    ("POST", "/api/rooms/ok/messages", {"user": "ann", "text": "   "}, 400),
    ("POST", "/api/rooms/ok/messages", {"user": "ann", "text": "x" * 4001}, 400),
    ("GET", "/api/rooms/missing-room/messages?user=ann", None, 404),
    ("GET", "/api/rooms/ok/messages", None, 400),
    ("GET", "/api/rooms/ok/messages?user=ann&wait=lots", None, 400),
    ("GET", "/api/rooms/ok/messages?user=ann&max=0", None, 400),
    ("GET", "/api/rooms/ok/messages?user=ann&wait=999999", None, 400),
    ("POST", "/api/rooms/ok/read", {"user": "ann", "offset": 99}, 400),
    ("GET", "/api/rooms", None, 400),
])
def test_bad_input_is_a_4xx_with_a_json_message(chat, method, path, body, status):
    chat.post("ok", "setup", "a room to refer to")
    got, answer = chat.call(method, path, body)
    assert got == status, answer
    assert isinstance(answer["error"], str) and answer["error"]


def test_terminal_send_and_read_share_the_rooms_and_bookmarks(broker, chat):
    def runnel(*args):
        result = subprocess.run([RUNNEL_BIN, "chat", *args, "--brokers", broker.bootstrap],
                                capture_output=True, text=True, timeout=60)
        return result.returncode, result.stdout, result.stderr

    assert runnel("send", "terminal", "from the shell", "--user", "ann")[0] == 0
    chat.post("terminal", "bob", "from the web")
    code, out, _ = runnel("read", "terminal", "--user", "dan")
    assert code == 0
    assert out.splitlines() == ["[0] ann: from the shell", "[1] bob: from the web"]
    # Reading moved dan's bookmark: nothing is unread now, in the terminal or on the web.
    assert runnel("read", "terminal", "--user", "dan")[1] == ""
    status, rooms = chat.call("GET", "/api/rooms?user=dan")
    assert {"name": "terminal", "unread": 0} in rooms["rooms"]
    code, _, err = runnel("send", "bad room", "x", "--user", "ann")
    assert code != 0 and "not allowed" in err


def test_with_no_brokers_it_uses_the_local_broker_or_starts_an_embedded_one(tmp_path):
    import socket
    with socket.socket() as probe:
        probe.settimeout(0.5)
        local_broker_runs = probe.connect_ex(("127.0.0.1", 9092)) == 0
    env = {k: v for k, v in os.environ.items() if k != "RUNNEL_BROKERS"}
    data_dir = tmp_path / "chat-data"
    chat = Chat(data_dir=data_dir, env=env)
    try:
        if local_broker_runs:
            assert chat.brokers == "127.0.0.1:9092"
        else:
            assert chat.brokers != "127.0.0.1:9092"
            assert (data_dir / "meta.properties").exists(), "the embedded broker formats its own data dir"
        room = f"embedded-{os.getpid()}"
        offset = chat.post(room, "ann", "works alone")
        assert chat.read(room, "bob", after=offset - 1)[0]["text"] == "works alone"
    finally:
        chat.stop()
