"""Starts `runnel serve` on a free port with a fresh data directory for each test module."""

import os
import subprocess
import tempfile

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer

RUNNEL_BIN = os.environ.get("RUNNEL_BIN", os.path.join(os.path.dirname(__file__), "../../target/debug/runnel"))


class Broker:
    """A runnel broker child process."""

    def __init__(self, data_dir, extra_args=(), listen="127.0.0.1:0"):
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            [RUNNEL_BIN, "serve", "--listen", listen, "--http-listen", "127.0.0.1:0", "--data-dir", data_dir,
             *extra_args],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.http = None
        # Each listener's name -> its bound address ("runnel listener NAME PROTOCOL listening on ADDR").
        self.listeners = {}
        line = self.process.stdout.readline().strip()
        http_prefix = "runnel http listening on "
        if line.startswith(http_prefix):
            self.http = line[len(http_prefix):]
            line = self.process.stdout.readline().strip()
        while line.startswith("runnel listener "):
            fields = line.split()
            self.listeners[fields[2]] = fields[-1]
            line = self.process.stdout.readline().strip()
        prefix = "runnel listening on "
        assert line.startswith(prefix), f"unexpected first line from runnel serve: {line!r}"
        self.bootstrap = line[len(prefix):]

    def stop(self):
        self.process.terminate()
        assert self.process.wait(timeout=30) == 0


def broker_with_properties(work_dir, properties, listen="127.0.0.1:0"):
    """A broker on `work_dir`/data configured by a server.properties of `properties` (written in
    `work_dir`): for tests of broker settings; call again on the same directory to restart, with
    `listen` the previous one's bootstrap address for its clients to find it again."""
    path = os.path.join(work_dir, "server.properties")
    with open(path, "w") as f:
        f.write(properties)
    return Broker(os.path.join(work_dir, "data"), ["-c", path], listen)


@pytest.fixture(scope="module")
def broker():
    with tempfile.TemporaryDirectory() as data_dir:
        b = Broker(data_dir)
        yield b
        b.stop()


_open_consumers = []


def new_consumer(config):
    """A confluent-kafka Consumer that is closed after the test even if the test fails: an
    unclosed librdkafka consumer keeps retrying a stopped broker and the interpreter from
    exiting."""
    consumer = Consumer(config)
    _open_consumers.append(consumer)
    return consumer


@pytest.fixture(autouse=True)
def close_leftover_consumers():
    yield
    while _open_consumers:
        consumer = _open_consumers.pop()
        try:
            consumer.close()
        except RuntimeError:
            pass  # the test closed it already


def round_trip(settings, topic):
    """Produces one record with the client `settings` and reads it back with the same settings
    in a new group; fails the test if either does not happen."""
    delivered = []
    producer = Producer(settings)
    value = f"round trip {uuid.uuid4()}".encode()
    producer.produce(topic, value=value, on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(20) == 0
    assert delivered == [None], delivered
    consumer = new_consumer({**settings, "group.id": f"g-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    deadline = time.time() + 20
    while time.time() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None and message.value() == value:
            consumer.close()
            return
    raise AssertionError(f"did not read back the record on {topic} with {settings.get('security.protocol', 'PLAINTEXT')}")


def first_error(settings, wait=15):
    """The first error librdkafka reports for a producer with `settings` (a refused sign-in,
    a dropped connection); fails the test if none comes within `wait` seconds."""
    errors = []
    producer = Producer({**settings, "error_cb": errors.append})
    deadline = time.time() + wait
    while not errors and time.time() < deadline:
        producer.poll(0.2)
    assert errors, f"no error reported within {wait} s for {settings.get('bootstrap.servers')}"
    return errors[0]
