// Apache Kafka's own Java client (kafka-clients) signing in to a runnel SASL_PLAINTEXT listener:
// SCRAM-SHA-512 and SCRAM-SHA-256 produce and consume, users are managed with the admin
// client's SCRAM credential API, and a wrong password fails with SaslAuthenticationException.
// Run by scripts/java_tests.sh against a broker formatted with the user admin/admin-secret;
// exits non-zero on any failure.
//
// Usage: java -cp <jars>:. RunnelJavaSasl BOOTSTRAP

import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class RunnelJavaSasl {
    private static String bootstrap;

    private static Properties signedIn(String mechanism, String user, String password) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("security.protocol", "SASL_PLAINTEXT");
        props.put("sasl.mechanism", mechanism);
        props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                + user + "\" password=\"" + password + "\";");
        return props;
    }

    private static void roundTrip(String mechanism, String user, String password, String topic) throws Exception {
        Properties producerProps = signedIn(mechanism, user, password);
        producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
            producer.send(new ProducerRecord<>(topic, "k", "signed in as " + user)).get();
        }
        Properties consumerProps = signedIn(mechanism, user, password);
        consumerProps.put(ConsumerConfig.GROUP_ID_CONFIG, "java-sasl-" + topic);
        consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        consumerProps.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        consumerProps.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + 30_000;
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                    if (record.value().equals("signed in as " + user)) {
                        System.out.printf("PASS %s as %s: produced and consumed%n", mechanism, user);
                        return;
                    }
                }
            }
        }
        throw new AssertionError(mechanism + " as " + user + ": the record never came back");
    }

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        roundTrip("SCRAM-SHA-512", "admin", "admin-secret", "java-sasl-512");
        try (Admin admin = Admin.create(signedIn("SCRAM-SHA-512", "admin", "admin-secret"))) {
            admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(
                    "carol", new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), "carol-secret")))
                    .all().get();
            var described = admin.describeUserScramCredentials(List.of("carol")).all().get();
            if (described.get("carol").credentialInfos().size() != 1) {
                throw new AssertionError("carol's credential is not described: " + described);
            }
            System.out.println("PASS the admin client created carol (SCRAM-SHA-256)");
        }
        roundTrip("SCRAM-SHA-256", "carol", "carol-secret", "java-sasl-256");
        Properties wrong = signedIn("SCRAM-SHA-512", "admin", "not-the-password");
        wrong.put("request.timeout.ms", "10000");
        wrong.put("default.api.timeout.ms", "10000");
        try (Admin admin = Admin.create(wrong)) {
            admin.listTopics().names().get();
            throw new AssertionError("a wrong password was accepted");
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof SaslAuthenticationException)) {
                throw new AssertionError("expected SaslAuthenticationException, got " + e.getCause(), e);
            }
            System.out.println("PASS a wrong password: " + e.getCause().getMessage());
        }
        System.out.println("all SASL checks passed");
    }
}
