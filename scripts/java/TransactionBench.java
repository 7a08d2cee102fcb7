// Apache Kafka's Java producer (kafka-clients) producing 1 KiB records at acks=all, idempotent
// and streaming, then transactional with a commit every N records, back to back in one JVM
// against one broker; prints each side's records/s and their ratio. Each side runs once to warm
// the JVM up, then once measured, on a topic of its own, deleted afterwards. Run by
// scripts/bench_transactions.sh.
//
// Usage: java -cp <jars>:. TransactionBench BOOTSTRAP RECORDS PER_TRANSACTION PARTITIONS

import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class TransactionBench {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        int records = Integer.parseInt(args[1]);
        int perTransaction = Integer.parseInt(args[2]);
        int partitions = Integer.parseInt(args[3]);
        String run = Long.toString(System.nanoTime(), 36);
        double[] rates = new double[2];
        for (int side = 0; side < 2; side++) {
            boolean transactional = side == 1;
            String kind = transactional ? "txn" : "idem";
            produce(bootstrap, topic(bootstrap, "java-warm-" + kind + "-" + run, partitions), records / 5,
                    transactional, perTransaction);
            String measured = topic(bootstrap, "java-" + kind + "-" + run, partitions);
            rates[side] = produce(bootstrap, measured, records, transactional, perTransaction);
            // A gigabyte per million records: gone before the next side writes its own.
            drop(bootstrap, "java-warm-" + kind + "-" + run, measured);
        }
        System.out.printf("%.0f %.0f %.0f%%%n", rates[0], rates[1], 100 * rates[1] / rates[0]);
    }

    static String topic(String bootstrap, String name, int partitions) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(props)) {
            admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1))).all().get();
        }
        return name;
    }

    static void drop(String bootstrap, String... topics) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(props)) {
            admin.deleteTopics(List.of(topics)).all().get();
        }
    }

    /** Produces `records` records of 1 KiB to `topic`; returns records/s. */
    static double produce(String bootstrap, String topic, int records, boolean transactional, int perTransaction)
            throws Exception {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, "262144");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        if (transactional) {
            props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, topic + "-producer");
        }
        byte[] value = new byte[1024];
        AtomicReference<Exception> failure = new AtomicReference<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            if (transactional) {
                producer.initTransactions();
            }
            long started = System.nanoTime();
            for (int i = 0; i < records; i++) {
                if (transactional && i % perTransaction == 0) {
                    producer.beginTransaction();
                }
                producer.send(new ProducerRecord<>(topic, value), (metadata, e) -> {
                    if (e != null) {
                        failure.compareAndSet(null, e);
                    }
                });
                // commitTransaction sends what lingers at once, as flush does.
                if (transactional && (i + 1) % perTransaction == 0) {
                    producer.commitTransaction();
                }
            }
            if (transactional && records % perTransaction != 0) {
                producer.commitTransaction();
            }
            producer.flush();
            double seconds = (System.nanoTime() - started) / 1e9;
            if (failure.get() != null) {
                throw failure.get();
            }
            return records / seconds;
        }
    }
}
