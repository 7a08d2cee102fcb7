//! Interactive queries over HTTP: a running instance answers `GET /stores/{store}/{key}` with
//! the key's current value as JSON, and serves its metrics at `/metrics`.
//!
//! Each queryable store is registered with how to read a key from the URL (`FromStr`) and its
//! serdes; values are written as JSON. A key whose partition runs on another instance of the
//! application answers 404 saying so.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::{StoreMiss, StoreReader};
use crate::StreamsError;
use crate::serdes::Serde;

/// Reads one store's value for a key given as text.
type Lookup = Arc<dyn Fn(&StoreReader, &str) -> Response + Send + Sync>;

/// Builds and starts the query server.
pub struct QueryServer {
    reader: StoreReader,
    stores: HashMap<String, Lookup>,
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

impl QueryServer {
    /// A server reading through `reader`, with no store yet.
    pub fn new(reader: StoreReader) -> Self {
        QueryServer { reader, stores: HashMap::new() }
    }

    /// Makes `store` queryable: keys parse from the URL with `FromStr` and encode with
    /// `key_serde`; values decode with `value_serde` and answer as JSON.
    pub fn store<K, V>(mut self, store: &str, key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> Self
    where
        K: FromStr + 'static,
        K::Err: std::fmt::Display,
        V: serde::Serialize + 'static,
    {
        let name = store.to_string();
        let lookup = move |reader: &StoreReader, text: &str| -> Response {
            let key = match K::from_str(text) {
                Ok(key) => key,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("key {text:?}: {e}")),
            };
            let Some(key_bytes) = key_serde.serialize(&key) else {
                return error(StatusCode::BAD_REQUEST, "a null key has no value".into());
            };
            match reader.get(&name, &key_bytes) {
                Ok(Some(bytes)) => match value_serde.deserialize(Some(&bytes)) {
                    Ok(value) => {
                        Json(serde_json::json!({ "store": name, "key": text, "value": value })).into_response()
                    }
                    Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("decode the value: {e}")),
                },
                Ok(None) => error(StatusCode::NOT_FOUND, format!("store {name} has no value for key {text:?}")),
                Err(StoreMiss::NotHere) => error(
                    StatusCode::NOT_FOUND,
                    format!("no task of this instance holds store {name} (its partitions may run on another instance)"),
                ),
                Err(StoreMiss::Busy) => {
                    error(StatusCode::SERVICE_UNAVAILABLE, "the instance is restoring or rebalancing; retry".into())
                }
            }
        };
        self.stores.insert(store.to_string(), Arc::new(lookup));
        self
    }

    /// Listens on `addr` (port 0: any free port) on a thread of its own; returns the address.
    pub fn start(self, addr: &str) -> Result<SocketAddr, StreamsError> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| StreamsError::Config(format!("bind the query server to {addr}: {e}")))?;
        listener.set_nonblocking(true).map_err(|e| StreamsError::Config(format!("query server socket: {e}")))?;
        let local = listener.local_addr().map_err(|e| StreamsError::Config(format!("query server socket: {e}")))?;
        let state = Arc::new(self);
        std::thread::Builder::new()
            .name("streams-queries".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(e) => return tracing::error!(error = %e, "query server runtime"),
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => return tracing::error!(error = %e, "query server socket"),
                    };
                    let app = Router::new()
                        .route("/stores/{store}/{key}", get(query))
                        .route("/metrics", get(metrics))
                        .with_state(state);
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!(error = %e, "query server stopped");
                    }
                });
            })
            .map_err(|e| StreamsError::Config(format!("start the query server thread: {e}")))?;
        tracing::info!(address = %local, "interactive queries at http://{local}/stores/STORE/KEY");
        Ok(local)
    }
}

async fn query(State(server): State<Arc<QueryServer>>, Path((store, key)): Path<(String, String)>) -> Response {
    let Some(lookup) = server.stores.get(&store).cloned() else {
        let mut known: Vec<&String> = server.stores.keys().collect();
        known.sort();
        return error(StatusCode::NOT_FOUND, format!("store {store} is not queryable here; queryable: {known:?}"));
    };
    let reader = server.reader.clone();
    // The lookup may wait up to a second for the tasks.
    match tokio::task::spawn_blocking(move || lookup(&reader, &key)).await {
        Ok(response) => response,
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn metrics(State(server): State<Arc<QueryServer>>) -> Response {
    ([("content-type", "text/plain; version=0.0.4")], server.reader.metrics_text()).into_response()
}
