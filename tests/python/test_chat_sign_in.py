"""The chat with sign-in required, on a SASL broker: users sign in with their Kafka (SCRAM)
credentials, which the chat checks by signing in to the broker as them, or with a token an
administrator issued; then each may post, read and move bookmarks only as themself (403
otherwise), and nothing works without signing in (401). Checked through the JSON API and in
Debian's headless Chromium."""

import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import RUNNEL_BIN, broker_with_properties
from test_chat_api import Chat

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
ISSUED = "carol c4r0l-t0ken-1ssued-by-admin"


@pytest.fixture(scope="module")
def signed_chat():
    with tempfile.TemporaryDirectory() as work:
        cluster = subprocess.check_output([RUNNEL_BIN, "storage", "random-uuid"], text=True).strip()
        users = []
        for name in ["chat", "ann", "bob"]:
            users += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={name}-secret]"]
        subprocess.check_output([RUNNEL_BIN, "storage", "format", "-t", cluster, "--data-dir",
                                 os.path.join(work, "data"), *users], text=True)
        broker = broker_with_properties(work, "listeners=SASL_PLAINTEXT://127.0.0.1:0\n"
                                              "sasl.enabled.mechanisms=SCRAM-SHA-512\nsuper.users=User:chat\n")
        tokens = os.path.join(work, "tokens")
        with open(tokens, "w") as f:
            f.write(f"# issued by the admin\n{ISSUED}\n")
        security = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=SCRAM-SHA-512",
                    "-X", "sasl.username=chat", "-X", "sasl.password=chat-secret"]
        chat = Chat(broker.bootstrap, extra_args=[*security, "--require-sign-in", "--tokens", tokens])
        yield chat
        chat.stop()
        broker.stop()


def sign_in(chat, user, password):
    status, body = chat.call("POST", "/api/session", {"user": user, "password": password})
    assert status == 200, body
    assert body["user"] == user
    return body["token"]


def test_nothing_works_without_signing_in_and_wrong_passwords_are_refused(signed_chat):
    status, body = signed_chat.call("GET", "/api/rooms?user=ann")
    assert status == 401 and "sign in" in body["error"], body
    status, body = signed_chat.call("POST", "/api/rooms/lobby/messages", {"user": "ann", "text": "hi"})
    assert status == 401, body
    for user, password in [("ann", "wrong"), ("nobody", "ann-secret"), ("carol", "c4r0l-t0ken-wrong-guess")]:
        status, body = signed_chat.call("POST", "/api/session", {"user": user, "password": password})
        assert status == 401 and body["error"] == "wrong user name or password", body
    status, body = signed_chat.call("GET", "/api/session")
    assert status == 200 and body == {"required": True, "user": None}


def test_a_user_acts_only_as_themself(signed_chat):
    ann = sign_in(signed_chat, "ann", "ann-secret")
    bob = sign_in(signed_chat, "bob", "bob-secret")
    assert signed_chat.call("GET", "/api/session", token=ann)[1] == {"required": True, "user": "ann"}
    status, body = signed_chat.call("POST", "/api/rooms/lobby/messages", {"user": "ann", "text": "hello"}, token=ann)
    assert status == 200, body
    offset = body["offset"]
    # Bob cannot post as ann, read as ann, or move ann's bookmark.
    status, body = signed_chat.call("POST", "/api/rooms/lobby/messages", {"user": "ann", "text": "forged"}, token=bob)
    assert status == 403 and body["error"] == "signed in as bob: cannot act as ann", body
    assert signed_chat.call("GET", "/api/rooms/lobby/messages?user=ann", token=bob)[0] == 403
    assert signed_chat.call("POST", "/api/rooms/lobby/read", {"user": "ann", "offset": offset}, token=bob)[0] == 403
    assert signed_chat.call("GET", "/api/rooms?user=ann", token=bob)[0] == 403
    # As himself he reads the room, forged message absent, and moves his own bookmark.
    status, body = signed_chat.call("GET", "/api/rooms/lobby/messages?user=bob", token=bob)
    assert status == 200 and [m["text"] for m in body["messages"]] == ["hello"], body
    status, body = signed_chat.call("POST", "/api/rooms/lobby/read", {"user": "bob", "offset": offset}, token=bob)
    assert status == 200 and body == {"bookmark": offset + 1}
    rooms = signed_chat.call("GET", "/api/rooms?user=ann", token=ann)[1]["rooms"]
    assert {"name": "lobby", "unread": 1} in rooms, rooms
    # After signing out, the token no longer works.
    signed_chat.call("DELETE", "/api/session", token=bob)
    assert signed_chat.call("GET", "/api/rooms?user=bob", token=bob)[0] == 401


def test_an_issued_token_signs_its_user_in(signed_chat):
    token = ISSUED.split()[1]
    status, body = signed_chat.call("POST", "/api/rooms/lobby/messages", {"user": "carol", "text": "via token"}, token=token)
    assert status == 200, body
    assert signed_chat.call("POST", "/api/rooms/lobby/messages", {"user": "ann", "text": "x"}, token=token)[0] == 403
    session = sign_in(signed_chat, "carol", token)
    assert signed_chat.call("GET", "/api/rooms/lobby/messages?user=carol", token=session)[0] == 200


def test_the_page_signs_in_and_refuses_acting_as_another(signed_chat):
    assert shutil.which("node"), "node is needed for the browser test"
    assert os.path.exists("/usr/bin/chromium"), "scripts/test.sh installs Debian's chromium"
    screenshot = os.path.abspath(os.path.join(ROOT, "target", "chat-sign-in.png"))
    os.makedirs(os.path.dirname(screenshot), exist_ok=True)
    result = subprocess.run(
        ["node", os.path.join(ROOT, "tests", "browser", "chat_sign_in.mjs"), signed_chat.url, screenshot],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bob saw ann's message; forging as ann got 403" in result.stdout, result.stdout
