"""Starts `runnel serve` on a free port with a fresh data directory for each test module."""

import os
import subprocess
import tempfile

import pytest

RUNNEL_BIN = os.environ.get("RUNNEL_BIN", os.path.join(os.path.dirname(__file__), "../../target/debug/runnel"))


class Broker:
    """A runnel broker child process."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            [RUNNEL_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline().strip()
        prefix = "runnel listening on "
        assert line.startswith(prefix), f"unexpected first line from runnel serve: {line!r}"
        self.bootstrap = line[len(prefix):]

    def stop(self):
        self.process.terminate()
        assert self.process.wait(timeout=30) == 0


@pytest.fixture(scope="module")
def broker():
    with tempfile.TemporaryDirectory() as data_dir:
        b = Broker(data_dir)
        yield b
        b.stop()
