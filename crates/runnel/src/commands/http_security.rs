//! Securing the broker's HTTP listener (`/metrics` and the console): HTTP Basic sign-in with a
//! broker user's password (`http.authentication=basic`), allowed only to principals the
//! authorizer lets describe the cluster, and HTTPS from a PEM keystore
//! (`http.ssl.keystore.location`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use runnel_broker::Broker;
use runnel_broker::security::acl::Operation;
use runnel_broker::security::authorizer::CLUSTER;
use sha2::Digest;

/// How long a checked password is remembered (the check runs PBKDF2; a console page makes a
/// request every few seconds).
const REMEMBER: Duration = Duration::from_secs(60);

/// The sign-in state of the HTTP listener.
pub struct HttpSignIn {
    broker: Arc<Broker>,
    /// (user, SHA-256 of the password) → when it was last checked good.
    checked: Mutex<HashMap<(String, [u8; 32]), Instant>>,
}

impl HttpSignIn {
    /// Sign-in against `broker`'s users and ACLs.
    pub fn new(broker: Arc<Broker>) -> Arc<HttpSignIn> {
        Arc::new(HttpSignIn { broker, checked: Mutex::new(HashMap::new()) })
    }

    async fn password_ok(&self, user: &str, password: &str) -> bool {
        let key = (user.to_string(), sha2::Sha256::digest(password.as_bytes()).into());
        {
            let checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
            if checked.get(&key).is_some_and(|at| at.elapsed() < REMEMBER) {
                return true;
            }
        }
        let broker = self.broker.clone();
        let (name, secret) = (user.to_string(), password.to_string());
        let good = tokio::task::spawn_blocking(move || broker.credentials.matches_password(&name, secret.as_bytes()))
            .await
            .unwrap_or(false);
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        checked.retain(|_, at| at.elapsed() < REMEMBER);
        if good {
            checked.insert(key, Instant::now());
        }
        good
    }
}

fn challenge(message: &'static str) -> Response {
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic realm=\"runnel\", charset=\"UTF-8\"")], message)
        .into_response()
}

/// The middleware: a request without a broker user's valid credentials gets 401, one from a
/// user who may not describe the cluster 403.
pub async fn require_sign_in(
    State(sign_in): State<Arc<HttpSignIn>>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    request: Request,
    next: Next,
) -> Response {
    let credentials = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok());
    let Some((user, password)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        return challenge("sign in with a runnel user's name and password\n");
    };
    if !sign_in.password_ok(user, password).await {
        tracing::warn!(%peer, user, "HTTP sign-in refused");
        sign_in.broker.metrics.failed_authentications.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // As a failed SASL sign-in: no fast password guessing.
        tokio::time::sleep(Duration::from_millis(sign_in.broker.config.failed_authentication_delay_ms)).await;
        return challenge("wrong user name or password\n");
    }
    let principal = format!("User:{user}");
    let host = peer.ip().to_string();
    if !sign_in.broker.authorizer.authorize(
        &principal,
        &host,
        Operation::Describe,
        runnel_broker::security::acl::ResourceType::Cluster,
        CLUSTER,
    ) {
        return (StatusCode::FORBIDDEN, format!("{principal} may not describe the cluster (an ACL must allow it)\n"))
            .into_response();
    }
    next.run(request).await
}

/// The client's address, for ACL host matching, whether the listener is plain or TLS.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

/// A TLS listener for axum: handshakes run in tasks of their own (a slow client holds up only
/// itself), and those that fail are logged and dropped.
pub struct TlsListener {
    local: SocketAddr,
    accepted: tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<tokio::net::TcpStream>, SocketAddr)>,
}

/// How long an HTTPS client gets to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsListener {
    /// Accepts on `listener`, handshaking with `config`.
    pub fn new(listener: tokio::net::TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (tx, accepted) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "HTTPS accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, handed) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = handed.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::info!(%peer, error = %e, "HTTPS handshake failed"),
                        Err(_) => tracing::info!(%peer, "HTTPS handshake not complete in time"),
                    }
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(TlsListener { local, accepted })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accept task ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
