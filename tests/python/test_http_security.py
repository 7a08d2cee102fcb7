"""The broker's HTTP listener secured: HTTPS from a PEM keystore (http.ssl.keystore.location)
and HTTP Basic sign-in with a broker user (http.authentication=basic) allowed only to principals
the ACLs let describe the cluster, for /metrics and the console alike."""

import base64
import os
import socket
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request

import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from conftest import RUNNEL_BIN, broker_with_properties

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


@pytest.fixture(scope="module")
def secured():
    with tempfile.TemporaryDirectory() as work:
        subprocess.run([os.path.join(ROOT, "scripts", "test_certificates.sh"), work], check=True)
        cluster = subprocess.check_output([RUNNEL_BIN, "storage", "random-uuid"], text=True).strip()
        subprocess.check_output(
            [RUNNEL_BIN, "storage", "format", "-t", cluster, "--data-dir", os.path.join(work, "data"),
             "--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]",
             "--add-scram", "SCRAM-SHA-512=[name=alice,password=alice-secret]"], text=True)
        b = broker_with_properties(work, (
            "listeners=SASL_PLAINTEXT://127.0.0.1:0\nsasl.enabled.mechanisms=SCRAM-SHA-512\n"
            "super.users=User:admin\nhttp.authentication=basic\n"
            f"http.ssl.keystore.location={work}/broker-keystore.pem\n"))
        b.work = work
        b.tls = ssl.create_default_context(cafile=f"{work}/ca.pem")
        yield b
        b.stop()


def get(b, path, user=None, password=None):
    request = urllib.request.Request(b.http + path)
    if user:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=20, context=b.tls) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def test_the_http_listener_speaks_https_only(secured):
    assert secured.http.startswith("https://127.0.0.1:"), secured.http
    host, port = secured.http.removeprefix("https://").rsplit(":", 1)
    # Plain HTTP to the HTTPS port gets no HTTP answer.
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
        assert not answer.startswith(b"HTTP/"), answer


def test_metrics_and_console_need_a_users_password_and_an_acl(secured):
    status, headers, _ = get(secured, "/metrics")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic"), status
    assert get(secured, "/metrics", "admin", "wrong")[0] == 401
    assert get(secured, "/metrics", "nobody", "admin-secret")[0] == 401
    status, _, body = get(secured, "/metrics", "admin", "admin-secret")
    assert status == 200 and "runnel_failed_authentications_total" in body
    assert get(secured, "/", "admin", "admin-secret")[0] == 200
    # alice's password is right, but she may not describe the cluster until an ACL says so.
    status, _, body = get(secured, "/metrics", "alice", "alice-secret")
    assert status == 403 and "User:alice" in body, body
    admin = AdminClient({"bootstrap.servers": secured.bootstrap, "security.protocol": "SASL_PLAINTEXT",
                         "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "admin", "sasl.password": "admin-secret"})
    binding = AclBinding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, "User:alice", "*",
                         AclOperation.DESCRIBE, AclPermissionType.ALLOW)
    for future in admin.create_acls([binding]).values():
        future.result(timeout=15)
    assert get(secured, "/metrics", "alice", "alice-secret")[0] == 200
    assert get(secured, "/", "alice", "alice-secret")[0] == 200
