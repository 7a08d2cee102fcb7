//! The broker's HTTP listener (`--http-listen`, default 127.0.0.1:9644): `/metrics` for
//! Prometheus and the console (runnel-console) at `/`. It runs as a task of its own: if it
//! cannot bind or fails, the Kafka listener goes on serving.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use runnel_broker::Broker;
use runnel_broker::metrics::collector::{CONTENT_TYPE, encode};
use runnel_console::Console;

/// The routes: `/metrics`, and the console's when there is one; anything else is 404, another
/// method 405.
pub fn router(broker: Arc<Broker>, console: Option<Arc<Console>>) -> Router {
    let metrics = Router::new().route("/metrics", get(metrics)).with_state(broker);
    match console {
        Some(console) => metrics.merge(runnel_console::pages::router(console)),
        None => metrics,
    }
}

/// Encodes every metric on the blocking pool (the scrape reads partition files for time lag).
async fn metrics(State(broker): State<Arc<Broker>>) -> Response {
    match tokio::task::spawn_blocking(move || encode(&broker)).await {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encode metrics: {e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("metrics task failed: {e}\n")).into_response(),
    }
}

/// Serves `listener` until the task is dropped; a failure is logged, never propagated. With
/// `http.authentication=basic` every route asks for a broker user's credentials; with `tls`
/// the listener speaks HTTPS.
pub async fn serve(
    listener: tokio::net::TcpListener,
    broker: Arc<Broker>,
    console: Option<Arc<Console>>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let mut app = router(broker.clone(), console);
    if broker.config.http_basic_auth {
        let sign_in = super::http_security::HttpSignIn::new(broker);
        app = app.layer(axum::middleware::from_fn_with_state(sign_in, super::http_security::require_sign_in));
    }
    let app = app.into_make_service_with_connect_info::<super::http_security::PeerAddr>();
    let served = match tls {
        None => axum::serve(listener, app).await,
        Some(config) => match super::http_security::TlsListener::new(listener, config) {
            Ok(listener) => axum::serve(listener, app).await,
            Err(e) => Err(e),
        },
    };
    if let Err(e) = served {
        tracing::error!(error = %e, "the HTTP listener failed; /metrics is unavailable, Kafka clients are still served");
    }
}
