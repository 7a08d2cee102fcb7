"""The examples in examples/python, set up as the notes do (a fresh venv, `pip install -r
requirements.txt`), run against runnel serve: messages sent, read with a bookmark that a second
run carries on from, and a newcomer who reads the past through a temporary group and then goes
on in their own group without missing or repeating a message."""

import os
import subprocess
import sys
import tempfile

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "../../examples/python")


@pytest.fixture(scope="module")
def python():
    with tempfile.TemporaryDirectory() as venv:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        pip = os.path.join(venv, "bin", "pip")
        subprocess.run([pip, "install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt"],
                       cwd=EXAMPLES, check=True)
        yield os.path.join(venv, "bin", "python")


def run(python, broker, script, *args):
    result = subprocess.run([python, script, "--brokers", broker.bootstrap, *args], cwd=EXAMPLES,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_the_chat_examples_send_read_with_a_bookmark_and_let_a_newcomer_catch_up(python, broker):
    sent = run(python, broker, "chat_producer.py", "--room", "example-room", "--user", "alice", "hello", "anyone here?")
    assert len(sent) == 2 and all(line.startswith("sent to example-room") for line in sent)
    reader = ["--room", "example-room", "--user", "bob", "--idle-seconds", "1"]
    assert run(python, broker, "chat_reader.py", *reader) == ["alice: hello", "alice: anyone here?"]
    run(python, broker, "chat_producer.py", "--room", "example-room", "--user", "alice", "still there?")
    assert run(python, broker, "chat_reader.py", *reader) == ["alice: still there?"], "bob goes on from his bookmark"

    newcomer = run(python, broker, "chat_newcomer.py", "--room", "example-room", "--user", "carol", "--idle-seconds", "1")
    assert newcomer == [
        "--- 3 earlier messages in example-room ---",
        "alice: hello",
        "alice: anyone here?",
        "alice: still there?",
        "--- carol joined example-room; new messages ---",
    ]
    run(python, broker, "chat_producer.py", "--room", "example-room", "--user", "bob", "welcome carol")
    carol = ["--room", "example-room", "--user", "carol", "--idle-seconds", "1"]
    assert run(python, broker, "chat_reader.py", *carol) == ["bob: welcome carol"], "only what came after she joined"
