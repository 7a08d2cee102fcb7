//! Random and hostile bytes into the request router (frame header + body decoders + handlers):
//! every input gets a reply or an error for its connection, never a panic or an abort.

use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use runnel_broker::api::{self, SUPPORTED};
use runnel_broker::connection::Session;
use runnel_broker::{Broker, BrokerConfig};

fn broker() -> (tempfile::TempDir, Arc<Broker>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = BrokerConfig { data_dir: dir.path().to_path_buf(), ..BrokerConfig::default() };
    let broker = Broker::open(config, "127.0.0.1:9092".parse().expect("addr")).expect("open broker");
    (dir, broker)
}

fn session(broker: &Broker) -> Session {
    Session::anonymous(broker.listeners[0].clone())
}

fn peer() -> std::net::SocketAddr {
    "127.0.0.1:50000".parse().expect("addr")
}

fn frame(api_key: i16, version: i16, flexible_header: bool, body: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(16 + body.len());
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&7i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
    if flexible_header {
        frame.push(0); // no tagged fields
    }
    frame.extend_from_slice(body);
    Bytes::from(frame)
}

#[test]
fn huge_array_counts_anywhere_in_any_request_are_refused_without_allocating() {
    let (_dir, broker) = broker();
    let counts: [&[u8]; 3] = [&[0x7f, 0xff, 0xff, 0xff], &[0xff, 0xff, 0xff, 0xff, 0x0f], &[0x40, 0, 0, 0]];
    for (api, min, max) in SUPPORTED {
        for version in *min..=*max {
            let flexible = api.request_header_version(version) >= 2;
            for at in 0..16 {
                for count in counts {
                    let mut body = vec![0u8; at];
                    body.extend_from_slice(count);
                    body.extend_from_slice(&[0u8; 8]);
                    // The reply, if any, is irrelevant: returning at all is the property.
                    let _ =
                        api::dispatch(&broker, &session(&broker), peer(), frame(*api as i16, version, flexible, &body));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn random_bodies_for_every_served_api_and_version_never_panic(
        which in 0..SUPPORTED.len(),
        version_offset in 0i16..20,
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let (_dir, broker) = broker();
        let (api, min, max) = SUPPORTED[which];
        let version = min + version_offset % (max - min + 1);
        let flexible = api.request_header_version(version) >= 2;
        let _ = api::dispatch(&broker, &session(&broker), peer(), frame(api as i16, version, flexible, &body));
    }

    #[test]
    fn random_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let (_dir, broker) = broker();
        let _ = api::dispatch(&broker, &session(&broker), peer(), Bytes::from(bytes));
    }
}
