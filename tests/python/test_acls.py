"""ACLs with confluent-kafka: a SASL_PLAINTEXT broker with `super.users=User:admin`, ACLs made
through the AdminClient (CreateAcls, DescribeAcls, DeleteAcls) and the `runnel acl` CLI, and
users alice and bob who get exactly what their ACLs allow: produce, consume with a group,
prefixed allows, a deny that wins, topics hidden from Metadata, auto-creation only with Create,
admin requests and transactions refused with Kafka's authorization errors. ACLs survive a
restart."""

import json
import os
import subprocess
import tempfile
import time
import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from conftest import RUNNEL_BIN, broker_with_properties, new_consumer

PROPERTIES = (
    "listeners=SASL_PLAINTEXT://127.0.0.1:0\n"
    "sasl.enabled.mechanisms=SCRAM-SHA-512\n"
    "super.users=User:admin\n"
)


def settings(b, user, **extra):
    return {
        "bootstrap.servers": b.bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": f"{user}-secret",
        **extra,
    }


@pytest.fixture(scope="module")
def acl_broker():
    with tempfile.TemporaryDirectory() as work:
        cluster = subprocess.check_output([RUNNEL_BIN, "storage", "random-uuid"], text=True).strip()
        subprocess.check_output(
            [RUNNEL_BIN, "storage", "format", "-t", cluster, "--data-dir", os.path.join(work, "data"),
             "--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]"], text=True)
        b = broker_with_properties(work, PROPERTIES)
        b.work = work
        admin = AdminClient(settings(b, "admin"))
        users = [UserScramCredentialUpsertion(u, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                              f"{u}-secret".encode()) for u in ["alice", "bob"]]
        for future in admin.alter_user_scram_credentials(users).values():
            future.result(timeout=15)
        for future in admin.create_topics([NewTopic(t, 1) for t in ["orders", "payments", "payroll", "secret"]]).values():
            future.result(timeout=15)
        yield b
        if b.process.poll() is None:
            b.stop()


def admin(b, user="admin"):
    return AdminClient(settings(b, user))


def allow(b, resource_type, name, principal, operation, pattern=ResourcePatternType.LITERAL,
          permission=AclPermissionType.ALLOW):
    binding = AclBinding(resource_type, name, pattern, principal, "*", operation, permission)
    client = admin(b)  # kept alive until the futures are done
    for future in client.create_acls([binding]).values():
        future.result(timeout=15)


def produce(b, user, topic, **extra):
    """The delivery error (None when the record was written)."""
    delivered = []
    producer = Producer(settings(b, user, **{"message.timeout.ms": 8000, **extra}))
    producer.produce(topic, value=b"v", on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(15)
    assert len(delivered) == 1, delivered
    return delivered[0]


def consume_one(b, user, topic, group):
    """The first record or error the consumer gets."""
    consumer = new_consumer(settings(b, user, **{"group.id": group, "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    deadline = time.time() + 20
    try:
        while time.time() < deadline:
            message = consumer.poll(0.5)
            if message is not None:
                return message
        raise AssertionError(f"{user} got nothing from {topic} in group {group}")
    finally:
        consumer.close()


def test_a_user_without_acls_is_refused_and_sees_no_topics(acl_broker):
    error = produce(acl_broker, "alice", "orders")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    assert admin(acl_broker, "alice").list_topics(timeout=15).topics == {}
    listed = admin(acl_broker).list_topics(timeout=15).topics
    assert {"orders", "payments", "payroll", "secret"} <= set(listed)


def test_write_read_and_group_acls_let_alice_produce_and_consume(acl_broker):
    allow(acl_broker, ResourceType.TOPIC, "orders", "User:alice", AclOperation.WRITE)
    assert produce(acl_broker, "alice", "orders") is None
    assert produce(acl_broker, "bob", "orders").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # Read on the topic but not on the group: the group refuses her.
    allow(acl_broker, ResourceType.TOPIC, "orders", "User:alice", AclOperation.READ)
    message = consume_one(acl_broker, "alice", "orders", "alice-group")
    assert message.error() is not None and message.error().code() == KafkaError.GROUP_AUTHORIZATION_FAILED, message.error()
    allow(acl_broker, ResourceType.GROUP, "alice-", "User:alice", AclOperation.READ, ResourcePatternType.PREFIXED)
    message = consume_one(acl_broker, "alice", "orders", "alice-group")
    assert message.error() is None and message.value() == b"v"
    # Metadata now shows her exactly the topic she may use.
    assert set(admin(acl_broker, "alice").list_topics(timeout=15).topics) == {"orders"}


def test_prefixed_allows_and_a_literal_deny_that_wins(acl_broker):
    allow(acl_broker, ResourceType.TOPIC, "pay", "User:bob", AclOperation.WRITE, ResourcePatternType.PREFIXED)
    allow(acl_broker, ResourceType.TOPIC, "payroll", "User:bob", AclOperation.WRITE,
          permission=AclPermissionType.DENY)
    assert produce(acl_broker, "bob", "payments") is None
    assert produce(acl_broker, "bob", "payroll").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce(acl_broker, "bob", "secret").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # A wildcard principal with a deny on everything for one topic.
    allow(acl_broker, ResourceType.TOPIC, "secret", "User:*", AclOperation.ALL, permission=AclPermissionType.DENY)
    assert produce(acl_broker, "admin", "secret") is None, "super users are not subject to ACLs"


def test_auto_creation_needs_create(acl_broker):
    topic = f"auto-{uuid.uuid4().hex[:8]}"
    allow(acl_broker, ResourceType.TOPIC, "auto-", "User:alice", AclOperation.WRITE, ResourcePatternType.PREFIXED)
    error = produce(acl_broker, "alice", topic)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    assert topic not in admin(acl_broker).list_topics(timeout=15).topics
    allow(acl_broker, ResourceType.TOPIC, "auto-", "User:alice", AclOperation.CREATE, ResourcePatternType.PREFIXED)
    assert produce(acl_broker, "alice", topic) is None
    assert topic in admin(acl_broker).list_topics(timeout=15).topics


def test_admin_requests_get_kafkas_authorization_errors(acl_broker):
    alice = admin(acl_broker, "alice")

    def refused(future, code):
        with pytest.raises(KafkaException) as raised:
            future.result(timeout=15)
        assert raised.value.args[0].code() == code, raised.value

    refused(alice.create_topics([NewTopic("alice-made", 1)])["alice-made"], KafkaError.TOPIC_AUTHORIZATION_FAILED)
    refused(alice.delete_topics(["payments"])["payments"], KafkaError.TOPIC_AUTHORIZATION_FAILED)
    refused(alice.describe_configs([ConfigResource("topic", "payments")])[ConfigResource("topic", "payments")],
            KafkaError.TOPIC_AUTHORIZATION_FAILED)
    binding = AclBinding(ResourceType.TOPIC, "payments", ResourcePatternType.LITERAL, "User:alice", "*",
                         AclOperation.ALL, AclPermissionType.ALLOW)
    refused(alice.create_acls([binding])[binding], KafkaError.CLUSTER_AUTHORIZATION_FAILED)
    upsert = UserScramCredentialUpsertion("mallory", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"x")
    refused(alice.alter_user_scram_credentials([upsert])["mallory"], KafkaError.CLUSTER_AUTHORIZATION_FAILED)
    # With the ACL, the same request goes through.
    allow(acl_broker, ResourceType.TOPIC, "payments", "User:alice", AclOperation.DESCRIBE_CONFIGS)
    configs = alice.describe_configs([ConfigResource("topic", "payments")])[ConfigResource("topic", "payments")]
    assert "cleanup.policy" in configs.result(timeout=15)


def test_a_transactional_producer_needs_write_on_its_transactional_id(acl_broker):
    allow(acl_broker, ResourceType.TOPIC, "orders", "User:bob", AclOperation.WRITE)
    producer = Producer(settings(acl_broker, "bob", **{"transactional.id": "bob-tx", "transaction.timeout.ms": 10000}))
    with pytest.raises(KafkaException) as raised:
        producer.init_transactions(15)
    assert raised.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, raised.value
    allow(acl_broker, ResourceType.TRANSACTIONAL_ID, "bob-tx", "User:bob", AclOperation.WRITE)
    producer = Producer(settings(acl_broker, "bob", **{"transactional.id": "bob-tx", "transaction.timeout.ms": 10000}))
    producer.init_transactions(15)
    producer.begin_transaction()
    producer.produce("orders", value=b"in a transaction")
    producer.commit_transaction(15)


def runnel_acl(b, *args, user="admin"):
    security = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=SCRAM-SHA-512",
                "-X", f"sasl.username={user}", "-X", f"sasl.password={user}-secret"]
    return subprocess.run([RUNNEL_BIN, "acl", *args, "--brokers", b.bootstrap, *security],
                          capture_output=True, text=True, timeout=60)


def test_the_cli_manages_acls_and_they_survive_a_restart(acl_broker):
    allow(acl_broker, ResourceType.TOPIC, "orders", "User:alice", AclOperation.WRITE)
    added = runnel_acl(acl_broker, "add", "--principal", "User:bob", "--operation", "read", "--operation", "describe",
                       "--topic", "audit-", "--prefixed")
    assert added.returncode == 0, added.stderr
    listed = runnel_acl(acl_broker, "list", "--principal", "User:bob", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    bob = json.loads(listed.stdout)
    assert {"resource_type": "topic", "name": "audit-", "pattern": "prefixed", "principal": "User:bob", "host": "*",
            "operation": "read", "permission": "allow"} in bob
    refused = runnel_acl(acl_broker, "list", user="alice")
    assert refused.returncode != 0 and "CLUSTER_AUTHORIZATION_FAILED" in refused.stderr, refused.stderr

    acl_broker.stop()
    restarted = broker_with_properties(acl_broker.work, PROPERTIES)
    acl_broker.__dict__.update(restarted.__dict__)
    after = json.loads(runnel_acl(acl_broker, "list", "--principal", "User:bob", "--output", "json").stdout)
    assert sorted(after, key=json.dumps) == sorted(bob, key=json.dumps)
    assert produce(acl_broker, "alice", "orders") is None, "alice's ACLs survived the restart too"

    deleted = runnel_acl(acl_broker, "delete", "--topic", "audit-", "--prefixed")
    assert deleted.returncode == 0 and "deleted 2 ACL(s)" in deleted.stdout, deleted.stdout + deleted.stderr
    filters = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:bob", None,
                               AclOperation.ANY, AclPermissionType.ANY)
    client = admin(acl_broker)
    remaining = client.describe_acls(filters).result(timeout=15)
    assert all(b.name != "audit-" for b in remaining), remaining
