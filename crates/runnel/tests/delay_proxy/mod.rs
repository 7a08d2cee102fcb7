//! A TCP proxy on loopback that holds every chunk of bytes for a fixed delay in each direction,
//! as a long link does, without limiting how many bytes are in flight: a client that pipelines
//! keeps its throughput, one that waits for each answer does not.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running proxy; it lives as long as the test process.
pub struct DelayProxy {
    /// Where clients connect.
    pub address: SocketAddr,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards each connection to `upstream`, delaying
    /// both directions by `delay`.
    pub fn start(upstream: SocketAddr, delay: Duration) -> DelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let address = listener.local_addr().expect("the proxy's address");
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (client2, server2) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                forward(client, server, delay);
                forward(server2, client2, delay);
            }
        });
        DelayProxy { address }
    }
}

/// Copies `from` to `to`, each chunk sent `delay` after it arrived.
fn forward(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (chunks, arriving) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if chunks.send((Instant::now() + delay, buffer[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        for (due, chunk) in arriving {
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
