"""SASL authentication on a SASL_PLAINTEXT listener, with confluent-kafka: SCRAM-SHA-512,
SCRAM-SHA-256 and PLAIN against users created by `runnel storage format --add-scram` and by
the AdminClient (AlterUserScramCredentials); wrong passwords, unknown users, a mechanism the
listener does not offer and a client without SASL settings are refused while the broker goes
on serving everyone else; the credentials survive a restart."""

import os
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

import conftest
from conftest import RUNNEL_BIN, broker_with_properties, first_error

# Authentication only: every signed-in user may do anything (ACLs are test_acls.py's).
PROPERTIES = (
    "listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN\n"
    "allow.everyone.if.no.acl.found=true\n"
)


def format_with_admin(work):
    cluster = subprocess.check_output([RUNNEL_BIN, "storage", "random-uuid"], text=True).strip()
    out = subprocess.check_output(
        [RUNNEL_BIN, "storage", "format", "-t", cluster, "--data-dir", os.path.join(work, "data"),
         "--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]",
         "--add-scram", "SCRAM-SHA-256=[name=admin,password=admin-secret]"],
        text=True,
    )
    assert "Added SCRAM-SHA-512 credentials for user admin" in out


@pytest.fixture(scope="module")
def sasl_broker():
    with tempfile.TemporaryDirectory() as work:
        format_with_admin(work)
        b = broker_with_properties(work, PROPERTIES)
        b.work = work
        yield b
        if b.process.poll() is None:
            b.stop()


def config(b, mechanism="SCRAM-SHA-512", user="admin", password="admin-secret", **extra):
    return {
        "bootstrap.servers": b.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
        **extra,
    }


def round_trip(b, topic, **settings):
    """Produces one record and reads it back with the given SASL settings."""
    conftest.round_trip(config(b, **settings), topic)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_each_mechanism_produces_and_consumes(sasl_broker, mechanism):
    round_trip(sasl_broker, f"secure-{mechanism.lower()}", mechanism=mechanism)


@pytest.mark.parametrize(
    "mechanism,user,password",
    [("SCRAM-SHA-512", "admin", "wrong"), ("SCRAM-SHA-256", "nobody", "admin-secret"), ("PLAIN", "admin", "wrong")],
)
def test_wrong_passwords_and_unknown_users_are_refused_and_logged(sasl_broker, mechanism, user, password):
    error = first_error(config(sasl_broker, mechanism=mechanism, user=user, password=password))
    assert error.code() == KafkaError._AUTHENTICATION, error
    assert "Authentication failed" in error.str(), error
    # Everyone else is still served.
    round_trip(sasl_broker, "after-a-failure")
    metrics = urllib.request.urlopen(f"{sasl_broker.http}/metrics", timeout=10).read().decode()
    failed = [line for line in metrics.splitlines() if line.startswith("runnel_failed_authentications_total ")]
    assert failed and float(failed[0].split()[1]) >= 1, failed


def test_a_client_without_sasl_settings_is_refused(sasl_broker):
    admin = AdminClient({"bootstrap.servers": sasl_broker.bootstrap, "socket.timeout.ms": 3000})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=4)
    round_trip(sasl_broker, "after-a-plaintext-client")


def request_frame(api_key, version, correlation_id, body):
    client = b"raw"
    # Request header v1: both requests sent here are of non-flexible versions.
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client)) + client
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def test_malformed_and_oversized_sasl_frames_close_that_connection_only(sasl_broker):
    host, port = sasl_broker.bootstrap.rsplit(":", 1)
    # A handshake whose body is cut short: the string claims 50 bytes and has 5.
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request_frame(17, 1, 1, struct.pack(">h", 50) + b"SCRAM"))
        assert s.recv(100) == b"", "the broker closes the connection"
    # A frame above Kafka's sasl.server.max.receive.size (512 KiB) before authentication.
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", 1024 * 1024) + b"\x00\x11\x00\x01")
        assert s.recv(100) == b"", "the broker closes the connection"
    # A frame larger than socket.request.max.bytes.
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", 200 * 1024 * 1024) + b"\x00\x11\x00\x01")
        assert s.recv(100) == b"", "the broker closes the connection"
    # A request other than ApiVersions or SASL before authentication (Metadata v1).
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request_frame(3, 1, 1, struct.pack(">i", -1)))
        assert s.recv(100) == b"", "the broker closes the connection"
    round_trip(sasl_broker, "after-bad-frames")


def test_a_mechanism_the_listener_does_not_offer_is_refused():
    with tempfile.TemporaryDirectory() as work:
        format_with_admin(work)
        b = broker_with_properties(work, "listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=SCRAM-SHA-512\n"
                                      "allow.everyone.if.no.acl.found=true\n")
        try:
            error = first_error(config(b, mechanism="PLAIN"))
            assert "PLAIN" in error.str() and "SCRAM-SHA-512" in error.str(), error
            round_trip(b, "scram-only")
        finally:
            b.stop()


def test_users_are_managed_through_the_admin_api_and_survive_a_restart(sasl_broker):
    admin = AdminClient(config(sasl_broker))
    alice = UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"wonderland")
    for future in admin.alter_user_scram_credentials([alice]).values():
        future.result(timeout=15)
    described = admin.describe_user_scram_credentials(["alice"])["alice"].result(timeout=15)
    infos = described.scram_credential_infos
    assert [(i.mechanism, i.iterations) for i in infos] == [(ScramMechanism.SCRAM_SHA_256, 8192)]
    round_trip(sasl_broker, "alice-topic", mechanism="SCRAM-SHA-256", user="alice", password="wonderland")
    # PLAIN checks the same credentials.
    round_trip(sasl_broker, "alice-topic", mechanism="PLAIN", user="alice", password="wonderland")

    # A restart keeps them.
    sasl_broker.stop()
    restarted = broker_with_properties(sasl_broker.work, PROPERTIES)
    sasl_broker.__dict__.update(restarted.__dict__)
    round_trip(sasl_broker, "alice-topic", mechanism="SCRAM-SHA-256", user="alice", password="wonderland")

    # Deleted, alice can no longer sign in.
    admin = AdminClient(config(sasl_broker))
    delete = UserScramCredentialDeletion("alice", ScramMechanism.SCRAM_SHA_256)
    for future in admin.alter_user_scram_credentials([delete]).values():
        future.result(timeout=15)
    error = first_error(config(sasl_broker, mechanism="SCRAM-SHA-256", user="alice", password="wonderland"))
    assert error.code() == KafkaError._AUTHENTICATION, error


def cli(b, *args, user="admin", password="admin-secret", stdin=None):
    """`runnel ARGS` signed in as `user`."""
    security = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=SCRAM-SHA-512",
                "-X", f"sasl.username={user}", "-X", f"sasl.password={password}"]
    return subprocess.run([RUNNEL_BIN, *args, "--brokers", b.bootstrap, *security], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_the_cli_signs_in_and_manages_users(sasl_broker):
    added = cli(sasl_broker, "user", "add", "bob", "--mechanism", "SCRAM-SHA-256", stdin="builder\n")
    assert added.returncode == 0, added.stderr
    assert "user bob: added SCRAM-SHA-256" in added.stdout
    listed = cli(sasl_broker, "user", "list", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    assert {"name": "bob", "mechanisms": [{"mechanism": "SCRAM-SHA-256", "iterations": 4096}]} in __import__("json").loads(listed.stdout)
    round_trip(sasl_broker, "bob-topic", mechanism="SCRAM-SHA-256", user="bob", password="builder")
    # librdkafka-based commands take the same -X settings.
    created = cli(sasl_broker, "topic", "create", "cli-secure", "--partitions", "2")
    assert created.returncode == 0, created.stderr
    deleted = cli(sasl_broker, "user", "delete", "bob")
    assert deleted.returncode == 0 and "user bob: deleted SCRAM-SHA-256" in deleted.stdout, deleted.stderr
    refused = cli(sasl_broker, "user", "list", password="wrong")
    assert refused.returncode != 0
    assert "SASL_AUTHENTICATION_FAILED" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def test_kcat_signs_in_with_scram(sasl_broker):
    kcat_bin = __import__("shutil").which("kcat") or __import__("shutil").which("kafkacat")
    assert kcat_bin, "kcat is not installed: scripts/test.sh installs Debian's kcat package"
    security = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=SCRAM-SHA-512",
                "-X", "sasl.username=admin", "-X", "sasl.password=admin-secret"]

    def kcat(*args, stdin=None):
        return subprocess.run([kcat_bin, "-b", sasl_broker.bootstrap, *security, *args], input=stdin,
                              capture_output=True, text=True, timeout=60)

    produced = kcat("-P", "-t", "kcat-secure", stdin="one\ntwo\n")
    assert produced.returncode == 0, produced.stderr
    consumed = kcat("-C", "-t", "kcat-secure", "-o", "beginning", "-e", "-f", "%s\n")
    assert consumed.returncode == 0 and consumed.stdout.split() == ["one", "two"], consumed.stderr


def read_frame(s):
    def exact(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data
    size = exact(4)
    return None if size is None else exact(struct.unpack(">i", size)[0])


def test_sessions_end_unless_the_client_re_authenticates():
    """KIP-368 with connections.max.reauth.ms: SaslAuthenticate reports the session's
    lifetime; librdkafka re-authenticates on its own connection and goes on producing; a raw
    client that does not is cut off at its next request after the lifetime."""
    with tempfile.TemporaryDirectory() as work:
        format_with_admin(work)
        b = broker_with_properties(work, "listeners=SASL_PLAINTEXT://127.0.0.1:0\n"
                                         "sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN\n"
                                         "allow.everyone.if.no.acl.found=true\nconnections.max.reauth.ms=1500\n")
        try:
            host, port = b.bootstrap.rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(request_frame(17, 1, 1, struct.pack(">h", 5) + b"PLAIN"))
                assert struct.unpack(">ih", read_frame(s)[:6]) == (1, 0)
                token = b"\0admin\0admin-secret"
                s.sendall(request_frame(36, 1, 2, struct.pack(">i", len(token)) + token))
                answer = read_frame(s)
                correlation, error, message_len = struct.unpack(">ihh", answer[:8])
                assert (correlation, error) == (2, 0), answer
                rest = answer[8 + max(message_len, 0):]
                (bytes_len,) = struct.unpack(">i", rest[:4])
                (lifetime,) = struct.unpack(">q", rest[4 + bytes_len:4 + bytes_len + 8])
                assert lifetime == 1500, lifetime
                # Within the lifetime, requests are served (Metadata v1, no topics).
                s.sendall(request_frame(3, 1, 3, struct.pack(">i", 0)))
                assert struct.unpack(">i", read_frame(s)[:4]) == (3,)
                time.sleep(1.8)
                s.sendall(request_frame(3, 1, 4, struct.pack(">i", 0)))
                assert read_frame(s) is None, "an expired session is closed at its next request"

            # Re-authenticating as another user is refused, and the connection closed.
            admin = AdminClient(config(b))
            alice = UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                                 b"wonderland")
            for future in admin.alter_user_scram_credentials([alice]).values():
                future.result(timeout=15)
            with socket.create_connection((host, int(port)), timeout=10) as s:
                for correlation, user, password in [(11, b"admin", b"admin-secret"), (13, b"alice", b"wonderland")]:
                    s.sendall(request_frame(17, 1, correlation, struct.pack(">h", 5) + b"PLAIN"))
                    assert struct.unpack(">ih", read_frame(s)[:6]) == (correlation, 0)
                    token = b"\0" + user + b"\0" + password
                    s.sendall(request_frame(36, 1, correlation + 1, struct.pack(">i", len(token)) + token))
                    answer = read_frame(s)
                    error, message_len = struct.unpack(">hh", answer[4:8])
                    if user == b"admin":
                        assert error == 0, answer
                message = answer[8:8 + message_len].decode()
                assert error == 58 and "Cannot change principals" in message, answer
                assert read_frame(s) is None, "the connection is closed after the refusal"

            delivered = []
            producer = Producer(config(b, **{"linger.ms": 0}))
            deadline = time.time() + 6
            while time.time() < deadline:
                producer.produce("reauth", value=b"x", on_delivery=lambda err, msg: delivered.append(err))
                producer.poll(0.25)
            assert producer.flush(15) == 0
            assert delivered and all(err is None for err in delivered), delivered[:3]
            metrics = urllib.request.urlopen(f"{b.http}/metrics", timeout=10).read().decode()
            line = next(l for l in metrics.splitlines() if l.startswith("runnel_successful_reauthentications_total "))
            assert float(line.split()[1]) >= 2, line
        finally:
            b.stop()
