// Apache Kafka's own Java client (kafka-clients) against runnel serve: the admin client
// (topics, config changes, record deletion, log dirs, leader election), an idempotent producer
// with every codec, a consumer group that commits and resumes, and
// transactions (commit, abort, offsets sent to a transaction, read_committed, fencing). Run by scripts/java_tests.sh; exits
// non-zero on any failure.
//
// Usage: java -cp <jars>:. RunnelJavaClients BOOTSTRAP

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class RunnelJavaClients {
    private static String bootstrap;
    private static int failures = 0;

    interface Check {
        void run() throws Exception;
    }

    private static void check(String name, Check body) {
        long started = System.nanoTime();
        try {
            body.run();
            System.out.printf("PASS %-60s %6d ms%n", name, (System.nanoTime() - started) / 1_000_000);
        } catch (Throwable e) {
            failures++;
            System.out.printf("FAIL %-60s %s%n", name, e);
            e.printStackTrace(System.out);
        }
    }

    private static void expect(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    private static Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return Admin.create(p);
    }

    private static KafkaProducer<String, String> producer(Map<String, Object> extra) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.putAll(extra);
        return new KafkaProducer<>(p);
    }

    private static KafkaConsumer<String, String> consumer(String group) {
        return consumer(group, Map.of());
    }

    private static KafkaConsumer<String, String> consumer(String group, Map<String, String> extra) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.putAll(extra);
        return new KafkaConsumer<>(p);
    }

    /** Polls until `count` records arrived (or 30 s passed); returns them in arrival order. */
    private static List<ConsumerRecord<String, String>> pollFor(KafkaConsumer<String, String> consumer, int count) {
        List<ConsumerRecord<String, String>> records = new ArrayList<>();
        long deadline = System.currentTimeMillis() + 30_000;
        while (records.size() < count && System.currentTimeMillis() < deadline) {
            consumer.poll(Duration.ofMillis(200)).forEach(records::add);
        }
        return records;
    }

    private static void createTopic(Admin admin, String name, int partitions) throws Exception {
        admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1))).all().get();
    }

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];

        check("admin: cluster, create, describe, list, grow and delete topics", () -> {
            try (Admin admin = admin()) {
                expect(admin.describeCluster().nodes().get().size() == 1, "one broker");
                expect(!admin.describeCluster().clusterId().get().isEmpty(), "a cluster id");
                createTopic(admin, "java-admin", 3);
                TopicDescription described =
                        admin.describeTopics(List.of("java-admin")).allTopicNames().get().get("java-admin");
                expect(described.partitions().size() == 3, "3 partitions: " + described);
                expect(admin.listTopics().names().get().contains("java-admin"), "listed");
                admin.createPartitions(Map.of("java-admin", org.apache.kafka.clients.admin.NewPartitions.increaseTo(5)))
                        .all().get();
                expect(admin.describeTopics(List.of("java-admin")).allTopicNames().get().get("java-admin")
                        .partitions().size() == 5, "grown to 5");
                try {
                    createTopic(admin, "java-admin", 1);
                    throw new AssertionError("a second create succeeded");
                } catch (ExecutionException e) {
                    expect(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException,
                            "TopicExistsException, got " + e.getCause());
                }
                admin.deleteTopics(List.of("java-admin")).all().get();
                expect(!admin.listTopics().names().get().contains("java-admin"), "deleted");
            }
        });

        check("admin: incremental and dynamic broker configs, deleteRecords, describeLogDirs", () -> {
            try (Admin admin = admin()) {
                createTopic(admin, "java-ops", 1);
                ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, "java-ops");
                ConfigResource cluster = new ConfigResource(ConfigResource.Type.BROKER, "");
                admin.incrementalAlterConfigs(Map.of(
                        topic, List.of(
                                new AlterConfigOp(new ConfigEntry("retention.ms", "86400000"), AlterConfigOp.OpType.SET),
                                new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND)),
                        cluster, List.of(
                                new AlterConfigOp(new ConfigEntry("log.segment.bytes", "8388608"), AlterConfigOp.OpType.SET))))
                        .all().get();
                Config configs = admin.describeConfigs(List.of(topic)).all().get().get(topic);
                expect(configs.get("retention.ms").value().equals("86400000"), "retention.ms: " + configs.get("retention.ms"));
                expect(configs.get("cleanup.policy").value().equals("delete,compact"), "cleanup.policy: " + configs.get("cleanup.policy"));
                ConfigEntry segment = configs.get("segment.bytes");
                expect(segment.value().equals("8388608") && segment.source() == ConfigEntry.ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
                        "segment.bytes from the cluster-wide dynamic default: " + segment);
                try {
                    admin.incrementalAlterConfigs(Map.of(topic, List.of(
                            new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all().get();
                    throw new AssertionError("a bad value was accepted");
                } catch (ExecutionException e) {
                    expect(e.getCause() instanceof org.apache.kafka.common.errors.InvalidConfigurationException,
                            "InvalidConfigurationException, got " + e.getCause());
                }
                admin.incrementalAlterConfigs(Map.of(cluster, List.of(
                        new AlterConfigOp(new ConfigEntry("log.segment.bytes", null), AlterConfigOp.OpType.DELETE)))).all().get();

                try (KafkaProducer<String, String> producer = producer(Map.of())) {
                    for (int i = 0; i < 100; i++) {
                        producer.send(new ProducerRecord<>("java-ops", "k" + i, "v" + i));
                    }
                    producer.flush();
                }
                TopicPartition tp = new TopicPartition("java-ops", 0);
                long low = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(40))).lowWatermarks().get(tp).get().lowWatermark();
                expect(low == 40, "low watermark 40, got " + low);
                try (KafkaConsumer<String, String> consumer = consumer("java-ops-reader")) {
                    consumer.assign(List.of(tp));
                    consumer.seekToBeginning(List.of(tp));
                    List<ConsumerRecord<String, String>> records = pollFor(consumer, 60);
                    expect(records.size() == 60 && records.get(0).offset() == 40, "60 records from offset 40: " + records.size());
                }

                int node = admin.describeCluster().nodes().get().iterator().next().id();
                Map<String, LogDirDescription> dirs = admin.describeLogDirs(List.of(node)).allDescriptions().get().get(node);
                expect(dirs.size() == 1, "one log dir: " + dirs.keySet());
                LogDirDescription dir = dirs.values().iterator().next();
                ReplicaInfo replica = dir.replicaInfos().get(tp);
                expect(replica != null && replica.size() > 0, "java-ops-0 has a size: " + dir.replicaInfos());
                expect(dir.totalBytes().isPresent() && dir.usableBytes().isPresent(), "total and usable bytes");

                try {
                    admin.electLeaders(ElectionType.PREFERRED, Set.of(tp)).all().get();
                    throw new AssertionError("an election was needed");
                } catch (ExecutionException e) {
                    expect(e.getCause() instanceof org.apache.kafka.common.errors.ElectionNotNeededException,
                            "ElectionNotNeededException, got " + e.getCause());
                }
                expect(admin.listPartitionReassignments().reassignments().get().isEmpty(), "no reassignments");
            }
        });

        for (String codec : List.of("none", "gzip", "snappy", "lz4", "zstd")) {
            check("idempotent producer, acks=all, compression " + codec + ": 2,000 records round trip", () -> {
                String topic = "java-" + codec;
                try (Admin admin = admin()) {
                    createTopic(admin, topic, 2);
                }
                try (KafkaProducer<String, String> producer =
                        producer(Map.of(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec, ProducerConfig.LINGER_MS_CONFIG, 5))) {
                    List<Future<RecordMetadata>> sent = new ArrayList<>();
                    for (int i = 0; i < 2000; i++) {
                        sent.add(producer.send(new ProducerRecord<>(topic, i % 2, "key-" + i, "value-" + i)));
                    }
                    for (Future<RecordMetadata> f : sent) {
                        f.get();
                    }
                }
                try (KafkaConsumer<String, String> consumer = consumer("java-reader-" + codec)) {
                    consumer.subscribe(List.of(topic));
                    List<ConsumerRecord<String, String>> records = pollFor(consumer, 2000);
                    expect(records.size() == 2000, "2000 records, got " + records.size());
                    Map<Integer, Long> next = new HashMap<>();
                    for (ConsumerRecord<String, String> r : records) {
                        long expected = next.getOrDefault(r.partition(), 0L);
                        expect(r.offset() == expected, "in order on partition " + r.partition());
                        int i = Integer.parseInt(r.key().substring(4));
                        expect(i % 2 == r.partition() && r.value().equals("value-" + i), "record " + r);
                        next.put(r.partition(), expected + 1);
                    }
                }
            });
        }

        check("consumer group: commit, close, and a new member resumes after the commit", () -> {
            String topic = "java-group";
            try (Admin admin = admin()) {
                createTopic(admin, topic, 3);
            }
            try (KafkaProducer<String, String> producer = producer(Map.of())) {
                for (int i = 0; i < 300; i++) {
                    producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i));
                }
                producer.flush();
            }
            try (KafkaConsumer<String, String> first = consumer("java-group")) {
                first.subscribe(List.of(topic));
                expect(pollFor(first, 300).size() == 300, "the first member read all 300");
                first.commitSync();
            }
            try (Admin admin = admin()) {
                Map<TopicPartition, OffsetAndMetadata> committed =
                        admin.listConsumerGroupOffsets("java-group").partitionsToOffsetAndMetadata().get();
                long total = committed.values().stream().mapToLong(OffsetAndMetadata::offset).sum();
                expect(total == 300, "offsets committed up to 300 in all, got " + committed);
                ConsumerGroupDescription group =
                        admin.describeConsumerGroups(List.of("java-group")).all().get().get("java-group");
                expect(group.members().isEmpty(), "no members after close: " + group);
            }
            try (KafkaProducer<String, String> producer = producer(Map.of())) {
                producer.send(new ProducerRecord<>(topic, "after", "commit")).get();
            }
            try (KafkaConsumer<String, String> second = consumer("java-group")) {
                second.subscribe(List.of(topic));
                List<ConsumerRecord<String, String>> records = pollFor(second, 1);
                expect(records.size() == 1 && records.get(0).key().equals("after"),
                        "only the record produced after the commit, got " + records);
            }
        });

        check("consumer group protocol (KIP-848): two members split 4 partitions; one takes over when the other leaves", () -> {
            String topic = "java-kip848";
            try (Admin admin = admin()) {
                createTopic(admin, topic, 4);
            }
            try (KafkaProducer<String, String> producer = producer(Map.of())) {
                for (int i = 0; i < 400; i++) {
                    producer.send(new ProducerRecord<>(topic, i % 4, "k" + i, "v" + i));
                }
                producer.flush();
            }
            Map<String, String> modern = Map.of(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
            KafkaConsumer<String, String> first = consumer("java-kip848", modern);
            try (KafkaConsumer<String, String> second = consumer("java-kip848", modern)) {
                first.subscribe(List.of(topic));
                second.subscribe(List.of(topic));
                Set<TopicPartition> all = new java.util.HashSet<>();
                long deadline = System.currentTimeMillis() + 60_000;
                while (System.currentTimeMillis() < deadline) {
                    first.poll(Duration.ofMillis(100));
                    second.poll(Duration.ofMillis(100));
                    all.clear();
                    all.addAll(first.assignment());
                    all.addAll(second.assignment());
                    if (first.assignment().size() == 2 && second.assignment().size() == 2 && all.size() == 4) {
                        break;
                    }
                }
                expect(first.assignment().size() == 2 && second.assignment().size() == 2 && all.size() == 4,
                        "2 + 2 partitions, got " + first.assignment() + " and " + second.assignment());
                try (Admin admin = admin()) {
                    ConsumerGroupDescription group =
                            admin.describeConsumerGroups(List.of("java-kip848")).all().get().get("java-kip848");
                    expect(group.members().size() == 2, "two members described: " + group);
                    expect(group.type() == org.apache.kafka.common.GroupType.CONSUMER, "a consumer group: " + group.type());
                }
                first.commitSync();
                first.close();
                while (System.currentTimeMillis() < deadline && second.assignment().size() < 4) {
                    second.poll(Duration.ofMillis(100));
                }
                expect(second.assignment().size() == 4, "the second member took all 4: " + second.assignment());
                // It reads on from the first member's commits to the end of every partition.
                while (System.currentTimeMillis() < deadline
                        && !second.assignment().stream().allMatch(tp -> second.position(tp) == 100)) {
                    second.poll(Duration.ofMillis(100));
                }
                second.commitSync();
            }
            try (Admin admin = admin()) {
                Map<TopicPartition, OffsetAndMetadata> committed =
                        admin.listConsumerGroupOffsets("java-kip848").partitionsToOffsetAndMetadata().get();
                long total = committed.values().stream().mapToLong(OffsetAndMetadata::offset).sum();
                expect(total == 400, "all 400 committed between the two members, got " + committed);
            }
        });

        check("transactions: read_committed sees the committed one, not the aborted one; offsets too", () -> {
            String topic = "java-txn";
            try (Admin admin = admin()) {
                createTopic(admin, topic, 1);
            }
            try (KafkaProducer<String, String> producer =
                    producer(Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "java-txn"))) {
                producer.initTransactions();
                producer.beginTransaction();
                for (int i = 0; i < 3; i++) {
                    producer.send(new ProducerRecord<>(topic, "committed-" + i));
                }
                producer.commitTransaction();
                producer.beginTransaction();
                for (int i = 0; i < 3; i++) {
                    producer.send(new ProducerRecord<>(topic, "aborted-" + i));
                }
                producer.flush();
                producer.abortTransaction();
                // Offsets sent to a transaction commit with it, and not when it aborts.
                TopicPartition input = new TopicPartition(topic, 0);
                ConsumerGroupMetadata group = new ConsumerGroupMetadata("java-eos");
                producer.beginTransaction();
                producer.sendOffsetsToTransaction(Map.of(input, new OffsetAndMetadata(3)), group);
                producer.commitTransaction();
                producer.beginTransaction();
                producer.sendOffsetsToTransaction(Map.of(input, new OffsetAndMetadata(99)), group);
                producer.abortTransaction();
            }
            try (Admin admin = admin()) {
                Map<TopicPartition, OffsetAndMetadata> committed =
                        admin.listConsumerGroupOffsets("java-eos").partitionsToOffsetAndMetadata().get();
                expect(committed.get(new TopicPartition(topic, 0)).offset() == 3,
                        "the committed transaction's offset, not the aborted one's: " + committed);
                // The admin client's view, as kafka-transactions.sh shows it.
                var listed = admin.listTransactions().all().get();
                expect(listed.stream().anyMatch(t -> t.transactionalId().equals("java-txn")
                        && t.state() == org.apache.kafka.clients.admin.TransactionState.COMPLETE_ABORT),
                        "java-txn listed, its last transaction aborted: " + listed);
                var described = admin.describeTransactions(List.of("java-txn")).all().get().get("java-txn");
                expect(described.state() == org.apache.kafka.clients.admin.TransactionState.COMPLETE_ABORT
                        && described.topicPartitions().isEmpty(), "described: " + described);
                // kafka-transactions.sh describe-producers: the producer, no transaction open.
                var producers = admin.describeProducers(List.of(new TopicPartition(topic, 0)))
                        .partitionResult(new TopicPartition(topic, 0)).get().activeProducers();
                expect(producers.size() == 1 && producers.get(0).producerId() == described.producerId()
                        && producers.get(0).lastSequence() == 5
                        && producers.get(0).currentTransactionStartOffset().isEmpty(),
                        "describe-producers: " + producers);
            }
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.GROUP_ID_CONFIG, "java-txn-reader");
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
                consumer.subscribe(List.of(topic));
                List<String> values = new ArrayList<>();
                long deadline = System.currentTimeMillis() + 10_000;
                while (System.currentTimeMillis() < deadline) {
                    consumer.poll(Duration.ofMillis(200)).forEach(r -> values.add(r.value()));
                    if (values.size() >= 3) {
                        // Give any aborted record a chance to show up, wrongly.
                        consumer.poll(Duration.ofMillis(1000)).forEach(r -> values.add(r.value()));
                        break;
                    }
                }
                expect(values.equals(List.of("committed-0", "committed-1", "committed-2")),
                        "only the committed records, got " + values);
                TopicPartition tp = new TopicPartition(topic, 0);
                expect(consumer.position(tp) == 8, "past both markers, at 8: " + consumer.position(tp));
            }
        });

        check("transactions: a second producer with the same transactional id fences the first", () -> {
            try (KafkaProducer<String, String> zombie =
                            producer(Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "java-fenced"));
                    KafkaProducer<String, String> successor =
                            producer(Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "java-fenced"))) {
                zombie.initTransactions();
                zombie.beginTransaction();
                zombie.send(new ProducerRecord<>("java-txn", "zombie")).get();
                successor.initTransactions();
                try {
                    zombie.commitTransaction();
                    throw new AssertionError("the fenced producer committed");
                } catch (org.apache.kafka.common.errors.ProducerFencedException e) {
                    System.out.println("     fenced with: " + e);
                }
            }
        });

        System.out.println(failures == 0 ? "all checks passed" : failures + " check(s) failed");
        System.exit(failures == 0 ? 0 : 1);
    }
}
