// Apache Kafka's own Java client (kafka-clients) against runnel's secured listeners:
// on SASL_PLAINTEXT, SCRAM-SHA-512 and SCRAM-SHA-256 produce and consume, users are managed with
// the admin client's SCRAM credential API, and a wrong password fails with
// SaslAuthenticationException; on SASL_SSL (SCRAM-SHA-512) and on SSL with a client
// certificate (mTLS), produce and consume, with Kafka's PEM truststore and keystore settings.
// Run by scripts/java_tests.sh against a broker formatted with the user admin/admin-secret,
// with certificates from scripts/test_certificates.sh; exits non-zero on any failure.
//
// Usage: java -cp <jars>:. RunnelJavaSasl SASL_PLAINTEXT_BOOTSTRAP SASL_SSL_BOOTSTRAP MTLS_BOOTSTRAP CERT_DIR

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
    private static String certs;

    private static Properties signedIn(String mechanism, String user, String password) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("security.protocol", "SASL_PLAINTEXT");
        props.put("sasl.mechanism", mechanism);
        props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                + user + "\" password=\"" + password + "\";");
        return props;
    }

    /** SCRAM-SHA-512 as admin inside TLS, the broker checked against the test authority. */
    private static Properties saslSsl(String saslSslBootstrap) {
        Properties props = signedIn("SCRAM-SHA-512", "admin", "admin-secret");
        props.put("bootstrap.servers", saslSslBootstrap);
        props.put("security.protocol", "SASL_SSL");
        props.put("ssl.truststore.type", "PEM");
        props.put("ssl.truststore.location", certs + "/ca.pem");
        return props;
    }

    /** TLS with alice's client certificate (Kafka's PEM keystore: key and chain in one file). */
    private static Properties mtls(String mtlsBootstrap) {
        Properties props = new Properties();
        props.put("bootstrap.servers", mtlsBootstrap);
        props.put("security.protocol", "SSL");
        props.put("ssl.truststore.type", "PEM");
        props.put("ssl.truststore.location", certs + "/ca.pem");
        props.put("ssl.keystore.type", "PEM");
        props.put("ssl.keystore.location", certs + "/alice-keystore.pem");
        return props;
    }

    private static void roundTrip(String mechanism, String user, String password, String topic) throws Exception {
        roundTrip(mechanism + " as " + user, signedIn(mechanism, user, password), topic);
    }

    private static void roundTrip(String label, Properties settings, String topic) throws Exception {
        String user = label;
        Properties producerProps = new Properties();
        producerProps.putAll(settings);
        producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
            producer.send(new ProducerRecord<>(topic, "k", "signed in as " + user)).get();
        }
        Properties consumerProps = new Properties();
        consumerProps.putAll(settings);
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
                        System.out.printf("PASS %s: produced and consumed%n", label);
                        return;
                    }
                }
            }
        }
        throw new AssertionError(label + ": the record never came back");
    }

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        certs = args[3];
        roundTrip("SASL_SSL, SCRAM-SHA-512 as admin", saslSsl(args[1]), "java-sasl-ssl");
        roundTrip("SSL with alice's client certificate", mtls(args[2]), "java-mtls");
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
        // One producer connection kept busy past the broker's 3 s sessions: the client
        // re-authenticates on it (KIP-368) and every send is acknowledged.
        Properties keep = saslSsl(args[1]);
        keep.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        keep.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(keep)) {
            long end = System.currentTimeMillis() + 7_000;
            int sent = 0;
            while (System.currentTimeMillis() < end) {
                producer.send(new ProducerRecord<>("java-reauth", "k", "v" + sent)).get();
                sent++;
                Thread.sleep(250);
            }
            System.out.printf("PASS %d sends over 7 s on a connection whose sessions last 3 s%n", sent);
        }
        System.out.println("all SASL and TLS checks passed");
    }
}
