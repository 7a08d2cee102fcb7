"""kafka-python and aiokafka, the other Python clients, against runnel: produce, assign, seek, read."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AioTopicPartition
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic


def test_kafka_python_creates_produces_and_consumes(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic("kp-topic", 2, 1)])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    for i in range(200):
        producer.send("kp-topic", key=b"k", value=str(i).encode(), partition=i % 2)
    producer.flush()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=3000)
    consumer.assign([TopicPartition("kp-topic", 0), TopicPartition("kp-topic", 1)])
    consumer.seek_to_beginning()
    values = sorted(int(m.value) for m in consumer)
    assert values == list(range(200))
    consumer.close()
    admin.close()


def test_aiokafka_idempotent_producer_and_consumer(broker):
    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        for i in range(100):
            await producer.send_and_wait("aio-topic", str(i).encode(), partition=0)
        await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
        await consumer.start()
        partition = AioTopicPartition("aio-topic", 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        values = []
        while len(values) < 100:
            batches = await consumer.getmany(timeout_ms=5000)
            assert batches, f"no records after {len(values)}"
            values.extend(int(m.value) for records in batches.values() for m in records)
        await consumer.stop()
        return values

    assert asyncio.run(run()) == list(range(100))


def test_kafka_python_group_consumer_commits_and_resumes(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic("kp-group", 2, 1)])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    for i in range(100):
        producer.send("kp-group", value=str(i).encode(), partition=i % 2)
    producer.flush()

    def consume(count):
        consumer = KafkaConsumer("kp-group", bootstrap_servers=broker.bootstrap, group_id="kp-readers",
                                 auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=10000)
        values = []
        for message in consumer:
            values.append(int(message.value))
            if len(values) == count:
                break
        consumer.commit()
        consumer.close()
        return values

    first = consume(60)
    rest = consume(40)
    assert sorted(first + rest) == list(range(100))
    admin.close()


def test_aiokafka_group_consumer_commits(broker):
    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        for i in range(30):
            await producer.send_and_wait("aio-group", str(i).encode(), partition=0)
        await producer.stop()
        consumer = AIOKafkaConsumer("aio-group", bootstrap_servers=broker.bootstrap, group_id="aio-readers",
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        values = []
        async for message in consumer:
            values.append(int(message.value))
            if len(values) == 30:
                break
        await consumer.commit()
        committed = await consumer.committed(AioTopicPartition("aio-group", 0))
        await consumer.stop()
        return values, committed

    values, committed = asyncio.run(run())
    assert values == list(range(30))
    assert committed == 30
