"""TLS listeners with confluent-kafka, kcat and runnel's CLI: one broker with three listeners at
once (PLAINTEXT, SASL_SSL with SCRAM-SHA-512, and SSL requiring client certificates), with an
authority, a broker certificate and client certificates made here by openssl. Clients produce
and consume over SASL_SSL and mTLS; Metadata sends each client back to the listener it came
through; a plaintext client on a TLS port, a client certificate no authority vouches for and a
client without one are refused, logged and counted, and everyone else goes on."""

import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import urllib.request

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient

from conftest import RUNNEL_BIN, broker_with_properties, first_error, new_consumer, round_trip


def make_certificates(work):
    """An authority, broker and client certificates (scripts/test_certificates.sh, openssl)."""
    script = os.path.join(os.path.dirname(__file__), "../../scripts/test_certificates.sh")
    subprocess.run([script, work], check=True)


def properties(work):
    return (
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,MTLS://127.0.0.1:0,REQ://127.0.0.1:0\n"
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL,REQ:SSL\n"
        "sasl.enabled.mechanisms=SCRAM-SHA-512\n"
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.location={work}/broker-keystore.pem\n"
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={work}/ca.pem\n"
        "listener.name.mtls.ssl.client.auth=required\n"
        "listener.name.req.ssl.client.auth=requested\n"
        # The authorizer sees alice's certificate as its subject, and the loopback PLAINTEXT
        # listener's clients as User:ANONYMOUS; with no ACLs, only super users are served.
        "super.users=User:admin;User:CN=alice,O=example;User:ANONYMOUS\n"
    )


@pytest.fixture(scope="module")
def tls_broker():
    with tempfile.TemporaryDirectory() as work:
        make_certificates(work)
        cluster = subprocess.check_output([RUNNEL_BIN, "storage", "random-uuid"], text=True).strip()
        subprocess.check_output(
            [RUNNEL_BIN, "storage", "format", "-t", cluster, "--data-dir", os.path.join(work, "data"),
             "--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]"], text=True)
        b = broker_with_properties(work, properties(work))
        b.work = work
        yield b
        if b.process.poll() is None:
            b.stop()


def sasl_ssl(b, **extra):
    return {
        "bootstrap.servers": b.listeners["SASL_SSL"],
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": f"{b.work}/ca.pem",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "admin",
        "sasl.password": "admin-secret",
        **extra,
    }


def mtls(b, client="alice", **extra):
    return {
        "bootstrap.servers": b.listeners["MTLS"],
        "security.protocol": "SSL",
        "ssl.ca.location": f"{b.work}/ca.pem",
        "ssl.certificate.location": f"{b.work}/{client}.pem",
        "ssl.key.location": f"{b.work}/{client}.key",
        **extra,
    }


def failed_authentications(b):
    metrics = urllib.request.urlopen(f"{b.http}/metrics", timeout=10).read().decode()
    line = next(line for line in metrics.splitlines() if line.startswith("runnel_failed_authentications_total "))
    return float(line.split()[1])


def test_sasl_ssl_with_scram_sha_512_produces_and_consumes(tls_broker):
    round_trip(sasl_ssl(tls_broker), "over-sasl-ssl")


def test_mtls_produces_and_consumes(tls_broker):
    round_trip(mtls(tls_broker), "over-mtls")


def test_each_listener_advertises_itself(tls_broker):
    for settings in [sasl_ssl(tls_broker), mtls(tls_broker), {"bootstrap.servers": tls_broker.listeners["PLAINTEXT"]}]:
        brokers = AdminClient(settings).list_topics(timeout=15).brokers
        assert [f"{b.host}:{b.port}" for b in brokers.values()] == [settings["bootstrap.servers"]], brokers


def test_refused_tls_clients_are_logged_counted_and_others_go_on(tls_broker):
    before = failed_authentications(tls_broker)
    # A client certificate no trusted authority signed.
    error = first_error(mtls(tls_broker, client="mallory"))
    assert error.code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN), error
    # No client certificate where the listener requires one.
    error = first_error({**mtls(tls_broker), "ssl.certificate.location": None, "ssl.key.location": None})
    assert error.code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN), error
    # A plaintext client on the TLS port: librdkafka reports the dropped connection at once.
    error = first_error({"bootstrap.servers": tls_broker.listeners["SASL_SSL"], "socket.timeout.ms": 5000})
    assert error.code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN), error
    # A Kafka frame sent raw to a TLS port: closed, no Kafka answer.
    host, port = tls_broker.listeners["MTLS"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">ihhih", 10, 18, 0, 1, 0))
        received = b""
        while chunk := s.recv(4096):
            received += chunk
        assert received[4:8] != struct.pack(">i", 1), f"a Kafka answer came over the TLS port: {received!r}"
    # A wrong password over SASL_SSL gets Kafka's authentication error.
    error = first_error(sasl_ssl(tls_broker, **{"sasl.password": "wrong"}))
    assert error.code() == KafkaError._AUTHENTICATION, error
    deadline = time.time() + 10
    while failed_authentications(tls_broker) < before + 4 and time.time() < deadline:
        time.sleep(0.2)
    assert failed_authentications(tls_broker) >= before + 4
    round_trip(sasl_ssl(tls_broker), "after-refusals")
    round_trip(mtls(tls_broker), "after-refusals")
    round_trip({"bootstrap.servers": tls_broker.listeners["PLAINTEXT"]}, "after-refusals")


def cli_security(b):
    return ["-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={b.work}/ca.pem",
            "-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=admin", "-X", "sasl.password=admin-secret"]


def test_the_cli_speaks_sasl_ssl_and_mtls(tls_broker):
    def runnel(*args, brokers, security, stdin=None):
        return subprocess.run([RUNNEL_BIN, *args, "--brokers", brokers, *security], input=stdin,
                              capture_output=True, text=True, timeout=60)

    # rdkafka-based commands.
    created = runnel("topic", "create", "cli-over-tls", "--partitions", "2",
                     brokers=tls_broker.listeners["SASL_SSL"], security=cli_security(tls_broker))
    assert created.returncode == 0, created.stderr
    # runnel's own protocol client (the SCRAM credential APIs), over SASL_SSL and over mTLS.
    added = runnel("user", "add", "carol", brokers=tls_broker.listeners["SASL_SSL"], security=cli_security(tls_broker),
                   stdin="carol-secret\n")
    assert added.returncode == 0, added.stderr
    client_cert = ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={tls_broker.work}/ca.pem",
                   "-X", f"ssl.certificate.location={tls_broker.work}/alice.pem",
                   "-X", f"ssl.key.location={tls_broker.work}/alice.key"]
    listed = runnel("user", "list", "--output", "json", brokers=tls_broker.listeners["MTLS"], security=client_cert)
    assert listed.returncode == 0, listed.stderr
    assert "carol" in [u["name"] for u in json.loads(listed.stdout)]
    # A broker certificate checked against the wrong authority: one line saying so.
    wrong_ca = ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={tls_broker.work}/mallory.pem",
                *client_cert[4:]]
    refused = runnel("user", "list", brokers=tls_broker.listeners["MTLS"], security=wrong_ca)
    assert refused.returncode != 0
    assert "TLS handshake" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def test_kcat_over_sasl_ssl_and_mtls(tls_broker):
    kcat_bin = shutil.which("kcat") or shutil.which("kafkacat")
    assert kcat_bin, "kcat is not installed: scripts/test.sh installs Debian's kcat package"
    work = tls_broker.work
    for brokers, security in [
        (tls_broker.listeners["SASL_SSL"], ["-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={work}/ca.pem",
                                            "-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=admin",
                                            "-X", "sasl.password=admin-secret"]),
        (tls_broker.listeners["MTLS"], ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={work}/ca.pem",
                                        "-X", f"ssl.certificate.location={work}/alice.pem",
                                        "-X", f"ssl.key.location={work}/alice.key"]),
    ]:
        topic = f"kcat-{security[1].split('=')[1].lower()}"

        def kcat(*args, stdin=None):
            return subprocess.run([kcat_bin, "-b", brokers, *security, *args], input=stdin,
                                  capture_output=True, text=True, timeout=60)

        produced = kcat("-P", "-t", topic, stdin="one\ntwo\n")
        assert produced.returncode == 0, produced.stderr
        consumed = kcat("-C", "-t", topic, "-o", "beginning", "-e", "-f", "%s\n")
        assert consumed.returncode == 0 and consumed.stdout.split() == ["one", "two"], consumed.stderr


def test_bench_and_mirror_take_the_security_settings(tls_broker):
    """runnel's client tools take librdkafka's security properties: the bench produces over
    mTLS, and a mirror reads over SASL_SSL (source.-prefixed settings) and writes to the
    PLAINTEXT listener of the same broker."""
    work = tls_broker.work
    bench = subprocess.run(
        [RUNNEL_BIN, "bench", "produce", "--brokers", tls_broker.listeners["MTLS"], "--topic", "tls-bench",
         "--records", "2000", "--record-size", "100", "--output", "json",
         "-X", "security.protocol=SSL", "-X", f"ssl.ca.location={work}/ca.pem",
         "-X", f"ssl.certificate.location={work}/alice.pem", "-X", f"ssl.key.location={work}/alice.key"],
        capture_output=True, text=True, timeout=120)
    assert bench.returncode == 0, bench.stderr
    assert json.loads(bench.stdout)["records"] == 2000
    mirror = subprocess.Popen(
        [RUNNEL_BIN, "mirror", "--source", tls_broker.listeners["SASL_SSL"], "--target", tls_broker.listeners["PLAINTEXT"],
         "--topics", "tls-bench", "--source-alias", "secure", "--http-listen", "off", "--heartbeat-secs", "0",
         "-X", "source.security.protocol=SASL_SSL", "-X", f"source.ssl.ca.location={work}/ca.pem",
         "-X", "source.sasl.mechanism=SCRAM-SHA-512", "-X", "source.sasl.username=admin",
         "-X", "source.sasl.password=admin-secret"],
        stderr=subprocess.PIPE, text=True)
    try:
        consumer = new_consumer({"bootstrap.servers": tls_broker.listeners["PLAINTEXT"], "group.id": "copy-reader",
                                 "auto.offset.reset": "earliest"})
        consumer.subscribe(["secure.tls-bench"])
        copied = 0
        deadline = time.time() + 60
        while copied < 2000 and time.time() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                copied += 1
        assert copied == 2000, f"the mirror copied {copied} of 2000 records"
    finally:
        mirror.terminate()
        mirror.wait(timeout=60)


def test_a_requested_client_certificate_is_checked_when_shown(tls_broker):
    """ssl.client.auth=requested: a client without a certificate is served (as User:ANONYMOUS),
    one with a trusted certificate too, and one that shows an untrusted certificate is refused
    (librdkafka keeps back a certificate no authority the broker names signed, so Python's
    ssl module shows it)."""
    requested = {**mtls(tls_broker), "bootstrap.servers": tls_broker.listeners["REQ"]}
    round_trip(requested, "requested-with-certificate")
    without = {k: v for k, v in requested.items() if k not in ("ssl.certificate.location", "ssl.key.location")}
    round_trip(without, "requested-without-certificate")
    work = tls_broker.work
    host, port = tls_broker.listeners["REQ"].rsplit(":", 1)
    context = ssl.create_default_context(cafile=f"{work}/ca.pem")
    context.load_cert_chain(f"{work}/mallory.pem", f"{work}/mallory.key")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with context.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(struct.pack(">ihhih", 10, 18, 0, 1, 0))
                if not s.recv(4):
                    raise ConnectionResetError("closed without an answer")
