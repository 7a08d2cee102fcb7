"""A release runnel broker for the load scripts (idle_connections.py, long_poll_connections.py):
raises this process's open-file limit for the connections it will open, builds the release
binary, starts it on an empty data directory and stops it after."""

import contextlib
import os
import resource
import subprocess
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def rss_kib(pid):
    """A process's resident set, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


@contextlib.contextmanager
def release_broker(connections):
    """Yields (bootstrap address, broker pid) of a fresh release broker, room made for
    `connections` sockets in this process."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, connections + 1000), hard))
    subprocess.run(["cargo", "build", "--release", "-p", "runnel"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as data:
        broker = subprocess.Popen(
            [os.path.join(ROOT, "target/release/runnel"), "serve", "--data-dir", data, "--listen", "127.0.0.1:0",
             "--http-listen", "off"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = broker.stdout.readline()
            while line and not line.startswith("runnel listening on"):
                line = broker.stdout.readline()
            if not line:
                raise RuntimeError("the broker exited before listening")
            yield line.split()[-1], broker.pid
        finally:
            broker.terminate()
            broker.wait()
