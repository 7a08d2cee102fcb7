package example;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The notes' Java producer-consumer: sends COUNT chat messages to a room (a topic), then reads
 * the room as one user (a consumer group), polling in batches and committing by hand after each
 * batch is shown: the commit is the bookmark, so the next run reads only what came since.
 *
 * <p>Usage: {@code java -jar kafka-producer-consumer-1.0-SNAPSHOT.jar [BOOTSTRAP] [ROOM] [COUNT]}
 * (defaults: localhost:9092, chat-java, 10). Exits non-zero if the messages it sent do not come
 * back.
 */
public final class ProducerConsumer {
    private ProducerConsumer() {}

    public static void main(String[] args) throws Exception {
        String bootstrap = args.length > 0 ? args[0] : "localhost:9092";
        String room = args.length > 1 ? args[1] : "chat-java";
        int count = args.length > 2 ? Integer.parseInt(args[2]) : 10;
        String runId = Long.toString(System.currentTimeMillis());

        Properties producerConfig = new Properties();
        producerConfig.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        producerConfig.put(ProducerConfig.ACKS_CONFIG, "all");
        producerConfig.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        producerConfig.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producerConfig.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerConfig)) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(room, "java-user", "message " + i + " of run " + runId)).get();
            }
        }
        System.out.println("produced " + count + " messages to " + room);

        Properties consumerConfig = new Properties();
        consumerConfig.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        consumerConfig.put(ConsumerConfig.GROUP_ID_CONFIG, "java-reader");
        consumerConfig.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        consumerConfig.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        consumerConfig.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        consumerConfig.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<String> read = new ArrayList<>();
        int fromThisRun = 0;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerConfig)) {
            consumer.subscribe(List.of(room));
            long deadline = System.currentTimeMillis() + 30_000;
            while (fromThisRun < count && System.currentTimeMillis() < deadline) {
                ConsumerRecords<String, String> batch = consumer.poll(Duration.ofMillis(500));
                for (ConsumerRecord<String, String> record : batch) {
                    System.out.println(record.key() + ": " + record.value());
                    read.add(record.value());
                    if (record.value().endsWith(" of run " + runId)) {
                        fromThisRun++;
                    }
                }
                if (!batch.isEmpty()) {
                    consumer.commitSync(); // the bookmark: everything shown so far is read
                }
            }
        }
        System.out.println("consumed " + read.size() + " messages, " + fromThisRun + " of them from this run");
        if (fromThisRun != count) {
            System.err.println("expected the " + count + " messages sent by this run");
            System.exit(1);
        }
    }
}
