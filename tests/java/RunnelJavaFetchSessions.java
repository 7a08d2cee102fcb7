// Apache Kafka's Java consumer reading 1,000 partitions of one topic from runnel: it opens a
// fetch session (KIP-227) and then sends incremental fetches, which name only the partitions
// whose position moved. Every record of every partition must arrive; scripts/java_tests.sh
// then checks the broker's count of incremental fetches. The broker skips partitions it saw
// idle until they change, so after idle polls the test writes again: a transaction to ten
// partitions (invisible to this read_committed consumer until it commits, then visible) and a
// second record to every partition; each must arrive once.
//
// Usage: java -cp <jars>:. RunnelJavaFetchSessions BOOTSTRAP

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class RunnelJavaFetchSessions {
    static final int PARTITIONS = 1000;
    static final String TOPIC = "java-fetch-sessions";

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        Properties common = new Properties();
        common.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(common)) {
            admin.createTopics(List.of(new NewTopic(TOPIC, PARTITIONS, (short) 1))).all().get();
        }
        Properties producerProps = new Properties();
        producerProps.putAll(common);
        producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
            for (int p = 0; p < PARTITIONS; p++) {
                producer.send(new ProducerRecord<>(TOPIC, p, "k", "record of partition " + p));
            }
            producer.flush();
        }
        Properties consumerProps = new Properties();
        consumerProps.putAll(common);
        consumerProps.put(ConsumerConfig.GROUP_ID_CONFIG, "java-fetch-sessions");
        consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        consumerProps.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "100");
        consumerProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        consumerProps.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        consumerProps.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        Set<Integer> seen = new HashSet<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps)) {
            consumer.subscribe(List.of(TOPIC));
            long deadline = System.currentTimeMillis() + 90_000;
            while (seen.size() < PARTITIONS && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                    if (!record.value().equals("record of partition " + record.partition())) {
                        throw new AssertionError("partition " + record.partition() + " holds " + record.value());
                    }
                    seen.add(record.partition());
                }
            }
            if (seen.size() != PARTITIONS) {
                throw new AssertionError("read " + seen.size() + " of " + PARTITIONS + " partitions");
            }
            // Idle polls: the session's incremental fetches name no partition at all.
            expectNothing(consumer, 3_000, "a record arrived twice");

            Properties txProps = new Properties();
            txProps.putAll(producerProps);
            txProps.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "java-fetch-sessions-tx");
            Set<String> expected = new HashSet<>();
            try (KafkaProducer<String, String> tx = new KafkaProducer<>(txProps)) {
                tx.initTransactions();
                tx.beginTransaction();
                for (int p = 0; p < 10; p++) {
                    tx.send(new ProducerRecord<>(TOPIC, p, "k", "transaction record of partition " + p));
                    expected.add(p + ":transaction record of partition " + p);
                }
                tx.flush();
                expectNothing(consumer, 1_500, "a record of an open transaction was read");
                tx.commitTransaction();
            }
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
                for (int p = 0; p < PARTITIONS; p++) {
                    producer.send(new ProducerRecord<>(TOPIC, p, "k", "second record of partition " + p));
                    expected.add(p + ":second record of partition " + p);
                }
                producer.flush();
            }
            long deadline2 = System.currentTimeMillis() + 60_000;
            while (!expected.isEmpty() && System.currentTimeMillis() < deadline2) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                    if (!expected.remove(record.partition() + ":" + record.value())) {
                        throw new AssertionError("unexpected or repeated: partition " + record.partition() + " " + record.value());
                    }
                }
            }
            if (!expected.isEmpty()) {
                throw new AssertionError(expected.size() + " records written after the idle polls never arrived, e.g. " + expected.iterator().next());
            }
            expectNothing(consumer, 1_000, "a record arrived twice after the second round");
        }
        System.out.printf("PASS the consumer read all %d partitions through a fetch session, and what came after its idle polls%n", PARTITIONS);
    }

    static void expectNothing(KafkaConsumer<String, String> consumer, long millis, String failure) {
        long until = System.currentTimeMillis() + millis;
        while (System.currentTimeMillis() < until) {
            if (!consumer.poll(Duration.ofMillis(250)).isEmpty()) {
                throw new AssertionError(failure);
            }
        }
    }
}
