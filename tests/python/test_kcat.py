"""kcat, built on Debian's older librdkafka 2.0, against runnel: metadata, produce with keys, consume."""

import json
import shutil
import subprocess

KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def kcat(broker, *args, stdin=None):
    assert KCAT, "kcat is not installed: scripts/test.sh installs Debian's kcat package"
    result = subprocess.run(
        [KCAT, "-b", broker.bootstrap, *args], input=stdin, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"kcat {args} failed: {result.stderr}"
    return result.stdout


def test_kcat_produces_keyed_records_and_reads_them_back(broker):
    lines = "".join(f"user-{i % 3}:message {i}\n" for i in range(50))
    kcat(broker, "-P", "-t", "kcat-topic", "-K", ":", "-X", "topic.request.required.acks=-1", stdin=lines)
    out = kcat(broker, "-C", "-t", "kcat-topic", "-o", "beginning", "-e", "-f", "%k|%s|%o\n")
    records = [line.split("|") for line in out.splitlines()]
    assert [(k, v) for k, v, _ in records] == [(f"user-{i % 3}", f"message {i}") for i in range(50)]
    assert [int(o) for _, _, o in records] == list(range(50))


def test_kcat_lists_the_broker_and_topics(broker):
    kcat(broker, "-P", "-t", "kcat-meta", stdin="x\n")
    meta = json.loads(kcat(broker, "-L", "-J"))
    assert [b["name"] for b in meta["brokers"]] == [broker.bootstrap]
    topic = next(t for t in meta["topics"] if t["topic"] == "kcat-meta")
    assert len(topic["partitions"]) == 1
    assert topic["partitions"][0]["leader"] == meta["brokers"][0]["id"]


def test_kcat_reads_from_an_offset_and_the_end(broker):
    kcat(broker, "-P", "-t", "kcat-offsets", stdin="".join(f"{i}\n" for i in range(10)))
    out = kcat(broker, "-C", "-t", "kcat-offsets", "-o", "7", "-e", "-f", "%s\n")
    assert out.split() == ["7", "8", "9"]
    out = kcat(broker, "-C", "-t", "kcat-offsets", "-o", "-2", "-e", "-f", "%s\n")
    assert out.split() == ["8", "9"]
