//! The wire fuzzer: frames captured from real clients (librdkafka through the `rdkafka` crate:
//! admin, idempotent producer, group consumer), mutated and sent one per fresh connection,
//! while a healthy client checks that the broker still serves. Runs for `RUNNEL_FUZZ_SECS`
//! seconds (10 unless set; the test command sets 60), seeded by `RUNNEL_FUZZ_SEED` (printed,
//! so a failing run can be replayed).
//!
//! Passes when the broker is alive at the end, its log holds no panic, every healthy check
//! passed, its memory stayed bounded, and after a clean restart every healthy record is there.

mod broker_process;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// The most memory the broker may use during the run.
const RSS_BOUND: u64 = 256 * 1024 * 1024;

/// Threads sending mutated frames at once.
const FUZZ_THREADS: u64 = 8;

/// Frames captured per API key and version, at most.
const PER_API_VERSION: usize = 8;

type Corpus = Arc<Mutex<Vec<Vec<u8>>>>;

/// A proxy that records every frame clients send through it.
struct Recorder {
    addr: SocketAddr,
    frames: Corpus,
    recording: Arc<AtomicBool>,
}

impl Recorder {
    /// Listens now; forwards to `upstream()` once connections arrive.
    fn start(listener: TcpListener, upstream: SocketAddr) -> Recorder {
        let addr = listener.local_addr().expect("proxy address");
        let frames: Corpus = Arc::default();
        let recording = Arc::new(AtomicBool::new(true));
        let (frames_for, recording_for) = (frames.clone(), recording.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(upstream) else { continue };
                let (frames, recording) = (frames_for.clone(), recording_for.clone());
                let (client_read, server_write) =
                    (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                std::thread::spawn(move || record_frames(client_read, server_write, &frames, &recording));
                std::thread::spawn(move || {
                    let (mut server, mut client) = (server, client);
                    let _ = std::io::copy(&mut server, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Recorder { addr, frames, recording }
    }
}

fn record_frames(mut client: TcpStream, mut server: TcpStream, frames: &Corpus, recording: &AtomicBool) {
    loop {
        let mut size = [0u8; 4];
        if client.read_exact(&mut size).is_err() {
            break;
        }
        let mut body = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
        if client.read_exact(&mut body).is_err() {
            break;
        }
        if recording.load(Ordering::Relaxed) {
            frames.lock().expect("corpus").push(body.clone());
        }
        if server.write_all(&size).and_then(|_| server.write_all(&body)).is_err() {
            break;
        }
    }
    let _ = server.shutdown(std::net::Shutdown::Both);
}

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("log_level", "0");
    config
}

/// Real client traffic through the recorder: every API librdkafka's admin, producer and group
/// consumer use.
async fn capture(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap).create().expect("admin");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let topic = NewTopic::new("capture", 2, TopicReplication::Fixed(1)).set("retention.ms", "3600000");
    admin.create_topics([&topic], &options).await.expect("create topics");
    admin.create_partitions([&NewPartitions::new("capture", 3)], &options).await.expect("create partitions");
    admin.describe_configs([&ResourceSpecifier::Topic("capture")], &options).await.expect("describe configs");

    for compression in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let producer: BaseProducer = client_config(bootstrap)
            .set("enable.idempotence", "true")
            .set("compression.type", compression)
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        for i in 0..30 {
            let value = format!("{compression} record {i}");
            let key = format!("key-{}", i % 7);
            let record = BaseRecord::to("capture").key(&key).payload(&value);
            producer.send(record).map_err(|(e, _)| e).expect("enqueue");
        }
        producer.flush(Duration::from_secs(10)).expect("flush");
    }

    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", "capture-group")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer");
    consumer.subscribe(&["capture"]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut read = 0;
    while read < 150 && Instant::now() < deadline {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            read += 1;
        }
    }
    assert_eq!(read, 150, "the capture consumer read every record");
    consumer.commit_consumer_state(CommitMode::Sync).expect("commit");
    consumer.committed(Duration::from_secs(5)).expect("offset fetch");
    consumer.fetch_group_list(None, Duration::from_secs(5)).expect("list and describe groups");
    consumer.unsubscribe();
    drop(consumer);
    admin.delete_groups(&["capture-group"], &options).await.expect("delete group");
    admin.delete_topics(&["capture"], &options).await.expect("delete topic");
}

/// One corpus of frames, at most [`PER_API_VERSION`] of each API key and version.
fn corpus(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut by_api: BTreeMap<(i16, i16), Vec<Vec<u8>>> = BTreeMap::new();
    for frame in frames.into_iter().filter(|f| f.len() >= 8) {
        let key = (i16::from_be_bytes([frame[0], frame[1]]), i16::from_be_bytes([frame[2], frame[3]]));
        let kept = by_api.entry(key).or_default();
        if kept.len() < PER_API_VERSION {
            kept.push(frame);
        }
    }
    eprintln!(
        "fuzz corpus: {} frames of {} APIs ({:?})",
        by_api.values().map(Vec::len).sum::<usize>(),
        by_api.keys().map(|k| k.0).collect::<std::collections::BTreeSet<_>>().len(),
        by_api.keys().collect::<Vec<_>>()
    );
    by_api.into_values().flatten().collect()
}

const INTERESTING_I32: [i32; 9] = [0, 1, -1, 0x7f, 0xff, 0x7fff, 0xffff, i32::MAX, i32::MIN];

/// One to four mutations of `frame`; sometimes a wrong size prefix.
fn mutate(frame: &[u8], other: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut body = frame.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        if body.is_empty() {
            body.push(rng.random());
        }
        let at = rng.random_range(0..body.len());
        match rng.random_range(0..9) {
            0 => body[at] ^= 1 << rng.random_range(0..8),
            1 => body[at] = rng.random(),
            2 => {
                let value = INTERESTING_I32[rng.random_range(0..INTERESTING_I32.len())].to_be_bytes();
                let width = if rng.random_bool(0.5) { 2 } else { 4 };
                let end = (at + width).min(body.len());
                body[at..end].copy_from_slice(&value[4 - (end - at)..]);
            }
            3 => {
                let end = (at + rng.random_range(1..16)).min(body.len());
                body.drain(at..end);
            }
            4 => {
                let junk: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
                body.splice(at..at, junk);
            }
            5 => body.truncate(at),
            6 => {
                let end = (at + rng.random_range(1..64)).min(body.len());
                let chunk = body[at..end].to_vec();
                body.splice(at..at, chunk);
            }
            // Another version of the same API, in or out of the served range.
            7 if body.len() >= 4 => body[2..4].copy_from_slice(&rng.random_range(-1i16..20).to_be_bytes()),
            _ => {
                let cut = rng.random_range(0..=other.len());
                body.truncate(at);
                body.extend_from_slice(&other[cut..]);
            }
        }
    }
    let size: i32 = match rng.random_range(0..40) {
        0 => -1,
        1 => i32::MAX,
        2 => body.len() as i32 + rng.random_range(1..100),
        _ => body.len() as i32,
    };
    let mut out = size.to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Sends one mutated frame on a fresh connection and reads whatever comes back for a moment.
fn send_one(broker: SocketAddr, frame: &[u8]) {
    let Ok(mut stream) = TcpStream::connect(broker) else { return };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(30)));
    if stream.write_all(frame).is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    while let Ok(n) = stream.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}

/// A producer and a consumer checking, round after round, that a new record is written and read.
struct HealthyClient {
    producer: BaseProducer,
    consumer: BaseConsumer,
    sent: u64,
}

impl HealthyClient {
    fn new(bootstrap: &str) -> HealthyClient {
        let producer: BaseProducer =
            client_config(bootstrap).set("acks", "all").set("linger.ms", "0").create().expect("producer");
        let consumer: BaseConsumer = client_config(bootstrap)
            .set("group.id", "healthy")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut list = TopicPartitionList::new();
        list.add_partition_offset("fuzz-healthy", 0, Offset::Beginning).expect("offset");
        consumer.assign(&list).expect("assign");
        HealthyClient { producer, consumer, sent: 0 }
    }

    /// Writes one record and reads it back; says what went wrong, if anything.
    fn check(&mut self) -> Result<(), String> {
        let value = format!("healthy {}", self.sent);
        self.producer
            .send(BaseRecord::<(), str>::to("fuzz-healthy").partition(0).payload(&value))
            .map_err(|(e, _)| format!("enqueue: {e}"))?;
        self.producer.flush(Duration::from_secs(10)).map_err(|e| format!("produce: {e}"))?;
        self.sent += 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) if message.payload() == Some(value.as_bytes()) => return Ok(()),
                Some(Ok(_)) | None => {}
                Some(Err(e)) => return Err(format!("consume: {e}")),
            }
        }
        Err(format!("{value:?} not read back within 10 s"))
    }
}

fn count_records(bootstrap: &str) -> i64 {
    let consumer: BaseConsumer = client_config(bootstrap).set("group.id", "counter").create().expect("consumer");
    let (low, high) = consumer.fetch_watermarks("fuzz-healthy", 0, Duration::from_secs(10)).expect("watermarks");
    high - low
}

fn fuzz_settings(dir: &Path, proxy: SocketAddr) -> std::path::PathBuf {
    let config = dir.join("server.properties");
    let text = format!(
        "advertised.listeners=PLAINTEXT://{proxy}\nmax.broker.partitions=2000\nmax.partitions.per.request=200\n\
         request.read.timeout.ms=2000\n"
    );
    std::fs::write(&config, text).expect("write config");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_client_frames_never_crash_wedge_or_bloat_the_broker() {
    let seconds: u64 = std::env::var("RUNNEL_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let seed: u64 = std::env::var("RUNNEL_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("wire fuzz: {seconds} s, RUNNEL_FUZZ_SEED={seed}");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("broker.log");

    // Clients are told the proxy's address, so every connection they make is recorded.
    let proxy_listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let config = fuzz_settings(dir.path(), proxy_listener.local_addr().expect("proxy address"));
    let config_arg = config.to_str().expect("path").to_string();
    let mut broker = BrokerProcess::start_logging_to(&data, &["--config", &config_arg], &log);
    let recorder = Recorder::start(proxy_listener, broker.addr);
    capture(&recorder.addr.to_string()).await;
    recorder.recording.store(false, Ordering::Relaxed);
    let frames = corpus(std::mem::take(&mut *recorder.frames.lock().expect("corpus")));
    assert!(frames.len() > 20, "captured {} frames", frames.len());

    let target = broker.addr;
    let bootstrap = recorder.addr.to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let fuzzers: Vec<_> = (0..FUZZ_THREADS)
        .map(|worker| {
            let (frames, stop, sent) = (frames.clone(), stop.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(worker));
                while !stop.load(Ordering::Relaxed) {
                    let frame = &frames[rng.random_range(0..frames.len())];
                    let other = &frames[rng.random_range(0..frames.len())];
                    send_one(target, &mutate(frame, other, &mut rng));
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let mut healthy = HealthyClient::new(&bootstrap);
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut peak_rss = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        if let Err(e) = healthy.check() {
            failures.push(format!("at {:?}: {e}", started.elapsed()));
        }
        peak_rss = peak_rss.max(broker.rss_bytes());
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for fuzzer in fuzzers {
        fuzzer.join().expect("fuzzer thread");
    }
    let frames_sent = sent.load(Ordering::Relaxed);
    eprintln!(
        "wire fuzz: {frames_sent} mutated frames in {:?}, {} healthy checks, peak RSS {} MiB",
        started.elapsed(),
        healthy.sent,
        peak_rss / (1024 * 1024)
    );
    assert!(broker.is_running(), "the broker died");
    assert!(failures.is_empty(), "healthy checks failed: {failures:?}");
    assert!(healthy.sent >= seconds, "only {} healthy checks", healthy.sent);
    assert!(peak_rss < RSS_BOUND, "peak RSS {peak_rss} bytes");
    let acknowledged = healthy.sent as i64;
    drop(healthy);

    let pid = broker.pid();
    assert!(broker.terminate(), "clean stop after the fuzz run (pid {pid})");
    let text = std::fs::read_to_string(&log).expect("read the broker log");
    assert!(!text.contains("panicked"), "a panic in the broker log:\n{}", panic_lines(&text));
    let broker = BrokerProcess::start_with(&data, "127.0.0.1:0", &[]);
    let stored = count_records(&broker.bootstrap());
    assert_eq!(stored, acknowledged, "every acknowledged healthy record is there after a restart");
}

fn panic_lines(text: &str) -> String {
    text.lines().filter(|l| l.contains("panicked")).take(5).collect::<Vec<_>>().join("\n")
}
