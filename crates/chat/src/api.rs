//! The chat's JSON API:
//!
//! - `POST /api/rooms/{room}/messages` `{"user","text","id"?}` → `{"offset"}`
//! - `GET /api/rooms/{room}/messages?user=U[&after=OFFSET][&wait=MS][&max=N]` →
//!   `{"messages":[{"offset","user","text","timestamp","id"}]}`
//! - `POST /api/rooms/{room}/read` `{"user","offset"}` → `{"bookmark"}` (the next unread offset)
//! - `GET /api/rooms?user=U` → `{"rooms":[{"name","unread"}]}`
//! - `POST /api/session` `{"user","password"}` → `{"user","token"}`; `DELETE /api/session`;
//!   `GET /api/session` → `{"required","user"}`
//!
//! With sign-in required ([`router_with_auth`]), every room call carries `Authorization: Bearer
//! TOKEN` (401 without a valid one) and may name only the signed-in user (403 otherwise). Bad
//! input gets a 4xx with `{"error": "..."}`. `GET /` serves the web page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::rules;
use crate::store::ChatStore;

/// The web page, built into the binary: nothing to build or install to run it.
const PAGE: &str = include_str!("../assets/index.html");

/// What every handler sees: the store, and sign-in when it is required.
#[derive(Clone)]
struct Chat {
    store: Arc<ChatStore>,
    auth: Option<Arc<Auth>>,
}

impl Chat {
    /// Checks that the request may speak for `user` (always, when sign-in is not required).
    fn speaks_for(&self, headers: &HeaderMap, user: &str) -> Result<(), ApiError> {
        match &self.auth {
            Some(auth) => auth.speaks_for(headers, user),
            None => Ok(()),
        }
    }
}

/// The web page and the API routes over a store, open to anyone who reaches them.
pub fn router(store: Arc<ChatStore>) -> Router {
    routes(Chat { store, auth: None })
}

/// The web page and the API routes over a store, each room call signed in through `auth`.
pub fn router_with_auth(store: Arc<ChatStore>, auth: Arc<Auth>) -> Router {
    routes(Chat { store, auth: Some(auth) })
}

fn routes(chat: Chat) -> Router {
    Router::new()
        .route("/", get(|| async { axum::response::Html(PAGE) }))
        .route("/api/session", post(sign_in).get(session).delete(sign_out))
        .route("/api/rooms", get(list_rooms))
        .route("/api/rooms/{room}/messages", post(post_message).get(read_messages))
        .route("/api/rooms/{room}/read", post(mark_read))
        .with_state(chat)
}

#[derive(Deserialize)]
struct SignInBody {
    user: String,
    password: String,
}

async fn sign_in(State(chat): State<Chat>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let Some(auth) = &chat.auth else {
        return Err(ApiError::BadRequest("this chat does not require signing in".into()));
    };
    let body: SignInBody = parse_body(&body)?;
    rules::user(&body.user)?;
    let token = auth.sign_in(&body.user, &body.password).await?;
    Ok(Json(json!({ "user": body.user, "token": token })))
}

async fn sign_out(State(chat): State<Chat>, headers: HeaderMap) -> Json<Value> {
    if let Some(auth) = &chat.auth {
        auth.sign_out(&headers);
    }
    Json(json!({}))
}

/// Whether sign-in is required, and who the request's token belongs to.
async fn session(State(chat): State<Chat>, headers: HeaderMap) -> Json<Value> {
    let user = chat.auth.as_ref().and_then(|auth| auth.user(&headers).ok());
    Json(json!({ "required": chat.auth.is_some(), "user": user }))
}

fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("request body is not the expected JSON: {e}")))
}

fn query_number<T: std::str::FromStr>(query: &HashMap<String, String>, name: &str) -> Result<Option<T>, ApiError> {
    match query.get(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ApiError::BadRequest(format!("{name}={v:?} is not a valid number"))),
    }
}

fn query_user(query: &HashMap<String, String>) -> Result<String, ApiError> {
    let user = query.get("user").ok_or_else(|| ApiError::BadRequest("the user query parameter is required".into()))?;
    rules::user(user)?;
    Ok(user.clone())
}

#[derive(Deserialize)]
struct PostBody {
    user: String,
    text: String,
    id: Option<String>,
}

async fn post_message(
    State(chat): State<Chat>,
    headers: HeaderMap,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    rules::room(&room)?;
    let body: PostBody = parse_body(&body)?;
    rules::user(&body.user)?;
    chat.speaks_for(&headers, &body.user)?;
    let store = &chat.store;
    rules::text(&body.text)?;
    if let Some(id) = &body.id
        && (id.is_empty() || id.len() > 64)
    {
        return Err(ApiError::BadRequest("id must be 1 to 64 characters".into()));
    }
    let offset = store.post(&room, &body.user, &body.text, body.id).await?;
    Ok(Json(json!({ "offset": offset })))
}

async fn read_messages(
    State(chat): State<Chat>,
    headers: HeaderMap,
    Path(room): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    rules::room(&room)?;
    let user = query_user(&query)?;
    chat.speaks_for(&headers, &user)?;
    let store = &chat.store;
    let after: Option<i64> = query_number(&query, "after")?;
    if after.is_some_and(|a| a < -1) {
        return Err(ApiError::BadRequest("after must be -1 or more".into()));
    }
    let wait: u64 = query_number(&query, "wait")?.unwrap_or(0);
    if wait > rules::MAX_WAIT_MS {
        return Err(ApiError::BadRequest(format!("wait may be at most {} ms", rules::MAX_WAIT_MS)));
    }
    let max: usize = query_number(&query, "max")?.unwrap_or(100);
    if max == 0 || max > rules::MAX_BATCH {
        return Err(ApiError::BadRequest(format!("max must be 1 to {}", rules::MAX_BATCH)));
    }
    let messages = store.read(&room, &user, after, wait, max).await?;
    Ok(Json(json!({ "messages": messages })))
}

#[derive(Deserialize)]
struct ReadBody {
    user: String,
    offset: i64,
}

async fn mark_read(
    State(chat): State<Chat>,
    headers: HeaderMap,
    Path(room): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    rules::room(&room)?;
    let body: ReadBody = parse_body(&body)?;
    rules::user(&body.user)?;
    chat.speaks_for(&headers, &body.user)?;
    chat.store.mark_read(&room, &body.user, body.offset).await?;
    Ok(Json(json!({ "bookmark": body.offset + 1 })))
}

async fn list_rooms(
    State(chat): State<Chat>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let user = query_user(&query)?;
    chat.speaks_for(&headers, &user)?;
    let rooms = chat.store.rooms(&user).await?;
    Ok(Json(json!({ "rooms": rooms })))
}
