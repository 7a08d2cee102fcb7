//! The console's pages: plain server-rendered HTML over the newest snapshot and the history,
//! with charts drawn in the browser by uPlot (built into the binary, see `assets/`). A small
//! script refreshes the page's content every sample interval without a reload.
//!
//! - `/`: the overview; `/topics`, `/topics/{name}`; `/groups`, `/groups/{id}`; `/alerts`.
//! - `/assets/*`: uPlot and the console's own script and style.

mod alerts_page;
mod charts;
mod groups;
/// HTML helpers, shared with other pages of runnel (the mirror's status page).
pub mod html;
mod mirrors;
mod overview;
mod topics;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::Console;

/// The console's routes (merged with `/metrics` by the HTTP listener).
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/topics", get(topics_list))
        .route("/topics/{name}", get(topic))
        .route("/groups", get(groups_list))
        .route("/groups/{id}", get(group))
        .route("/alerts", get(alerts))
        .route("/assets/{file}", get(asset))
        .with_state(console)
}

/// The time range of the charts: `?range=15m|1h|6h|24h|all`.
#[derive(Debug, Deserialize)]
struct RangeQuery {
    range: Option<String>,
}

impl RangeQuery {
    /// The range's name and length in ms (`None`: all history).
    fn parse(&self) -> Result<(&str, Option<i64>), String> {
        let name = self.range.as_deref().unwrap_or("1h");
        let ms = match name {
            "15m" => Some(15 * 60_000),
            "1h" => Some(3_600_000),
            "6h" => Some(6 * 3_600_000),
            "24h" => Some(24 * 3_600_000),
            "all" => None,
            other => return Err(format!("range={other}: expected one of 15m, 1h, 6h, 24h, all")),
        };
        Ok((name, ms))
    }
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, Html(html::page_with_body("Not found", &format!("<p>{}</p>", html::esc(what)))))
        .into_response()
}

/// A page over a chart range: 400 for a bad `?range=`, 404 (saying `missing`) when `render`
/// finds nothing to show.
fn ranged(q: &RangeQuery, missing: &str, render: impl FnOnce((&str, Option<i64>)) -> Option<String>) -> Response {
    match q.parse() {
        Ok(range) => match render(range) {
            Some(page) => Html(page).into_response(),
            None => not_found(missing),
        },
        Err(e) => bad_request(&e),
    }
}

async fn overview(State(console): State<Arc<Console>>, Query(q): Query<RangeQuery>) -> Response {
    ranged(&q, "", |range| Some(overview::render(&console, range)))
}

async fn topics_list(State(console): State<Arc<Console>>) -> Response {
    Html(topics::render_list(&console)).into_response()
}

async fn topic(State(console): State<Arc<Console>>, Path(name): Path<String>, Query(q): Query<RangeQuery>) -> Response {
    ranged(&q, &format!("No topic named {name}."), |range| topics::render_one(&console, &name, range))
}

async fn groups_list(State(console): State<Arc<Console>>) -> Response {
    Html(groups::render_list(&console)).into_response()
}

async fn group(State(console): State<Arc<Console>>, Path(id): Path<String>, Query(q): Query<RangeQuery>) -> Response {
    ranged(&q, &format!("No group named {id}."), |range| groups::render_one(&console, &id, range))
}

async fn alerts(State(console): State<Arc<Console>>) -> Response {
    Html(alerts_page::render(&console)).into_response()
}

/// The built-in static files.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "uPlot.iife.min.js" => (include_bytes!("../../assets/uPlot.iife.min.js"), "text/javascript"),
        "uPlot.min.css" => (include_bytes!("../../assets/uPlot.min.css"), "text/css"),
        "console.js" => (include_bytes!("../../assets/console.js"), "text/javascript"),
        "console.css" => (include_bytes!("../../assets/console.css"), "text/css"),
        _ => return not_found(&format!("No asset named {file}.")),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "max-age=3600")], body).into_response()
}
