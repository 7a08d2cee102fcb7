//! Signing in to the chat, so that nobody speaks for somebody else: a user signs in with their
//! Kafka credentials (the chat checks them by signing in to the cluster with SASL as that user)
//! or with a token an administrator issued, and gets a session token. With sign-in required,
//! every API call carries `Authorization: Bearer TOKEN`, and may name only the signed-in user:
//! posting as, reading as, or moving the bookmark of anyone else is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use crate::error::ApiError;

/// Checks a user's password (blocking: it signs in to the cluster); `Err` when the cluster
/// cannot be asked.
pub type PasswordCheck = Arc<dyn Fn(&str, &str) -> Result<bool, String> + Send + Sync>;

/// How long a refused sign-in waits before its answer (Kafka's
/// `connection.failed.authentication.delay.ms` default).
const FAILED_SIGN_IN_DELAY: Duration = Duration::from_millis(100);

/// How long a session lasts without signing in again.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Sign-in and sessions.
pub struct Auth {
    check: Option<PasswordCheck>,
    /// Tokens an administrator issued: token → user.
    issued: HashMap<String, String>,
    /// Session tokens handed out by sign-in: token → (user, expiry).
    sessions: Mutex<HashMap<String, (String, Instant)>>,
}

impl Auth {
    /// Sign-in by password through `check` (if any) and by the `issued` tokens (token → user).
    pub fn new(check: Option<PasswordCheck>, issued: HashMap<String, String>) -> Auth {
        Auth { check, issued, sessions: Mutex::new(HashMap::new()) }
    }

    /// Reads an issued-tokens file: one `user token` pair per line, `#` comments.
    pub fn read_tokens(text: &str) -> Result<HashMap<String, String>, String> {
        let mut tokens = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            match (fields.next(), fields.next(), fields.next()) {
                (Some(user), Some(token), None) if token.len() >= 16 => {
                    crate::rules::user(user).map_err(|e| format!("line {}: {e}", number + 1))?;
                    tokens.insert(token.to_string(), user.to_string());
                }
                (Some(_), Some(_), None) => {
                    return Err(format!("line {}: a token must be 16 characters or more", number + 1));
                }
                _ => return Err(format!("line {}: expected `USER TOKEN`", number + 1)),
            }
        }
        Ok(tokens)
    }

    /// Signs `user` in with `password`, or with an issued token given as the password; returns a
    /// new session token.
    pub async fn sign_in(&self, user: &str, password: &str) -> Result<String, ApiError> {
        let by_token = self.issued.iter().any(|(token, owner)| owner == user && constant_time_eq(token, password));
        let by_password = match (&self.check, by_token) {
            (_, true) => true,
            (None, false) => false,
            (Some(check), false) => {
                let (check, user, password) = (check.clone(), user.to_string(), password.to_string());
                tokio::task::spawn_blocking(move || check(&user, &password))
                    .await
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?
                    .map_err(ApiError::Unavailable)?
            }
        };
        if !by_password {
            tracing::warn!(user, "chat sign-in refused");
            // No fast password guessing: each refusal takes as long as a failed SASL sign-in.
            tokio::time::sleep(FAILED_SIGN_IN_DELAY).await;
            return Err(ApiError::Unauthorized("wrong user name or password".into()));
        }
        let token = new_token();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        sessions.retain(|_, (_, expires)| *expires > now);
        sessions.insert(token.clone(), (user.to_string(), now + SESSION_LIFETIME));
        tracing::info!(user, "signed in to the chat");
        Ok(token)
    }

    /// Ends the session of `headers`' token.
    pub fn sign_out(&self, headers: &HeaderMap) {
        if let Some(token) = bearer(headers) {
            self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(token);
        }
    }

    /// The user `headers` prove to be (a session token, or an issued token).
    pub fn user(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let token =
            bearer(headers).ok_or_else(|| ApiError::Unauthorized("sign in first (POST /api/session)".into()))?;
        if let Some((user, expires)) = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).get(token)
            && *expires > Instant::now()
        {
            return Ok(user.clone());
        }
        if let Some(user) = self.issued.iter().find(|(t, _)| constant_time_eq(t, token)).map(|(_, u)| u) {
            return Ok(user.clone());
        }
        Err(ApiError::Unauthorized("the session has ended or the token is unknown; sign in again".into()))
    }

    /// Checks that `headers` prove to be `claimed`, the user a request speaks for.
    pub fn speaks_for(&self, headers: &HeaderMap, claimed: &str) -> Result<(), ApiError> {
        let user = self.user(headers)?;
        if user != claimed {
            return Err(ApiError::Forbidden(format!("signed in as {user}: cannot act as {claimed}")));
        }
        Ok(())
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

fn new_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Compares without stopping at the first difference, so timing does not reveal a prefix.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_token(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers
    }

    #[tokio::test]
    async fn a_session_speaks_only_for_its_user() {
        let check: PasswordCheck = Arc::new(|user, password| Ok(user == "alice" && password == "wonderland"));
        let issued = Auth::read_tokens("# issued\nbob 0123456789abcdef0123\n").unwrap();
        let auth = Auth::new(Some(check), issued);
        assert!(matches!(auth.sign_in("alice", "wrong").await, Err(ApiError::Unauthorized(_))));
        let token = auth.sign_in("alice", "wonderland").await.unwrap();
        assert_eq!(auth.user(&with_token(&token)).unwrap(), "alice");
        assert!(auth.speaks_for(&with_token(&token), "alice").is_ok());
        assert!(matches!(auth.speaks_for(&with_token(&token), "bob"), Err(ApiError::Forbidden(_))));
        assert!(matches!(auth.user(&HeaderMap::new()), Err(ApiError::Unauthorized(_))));
        // An issued token works as a bearer token and as bob's password.
        assert_eq!(auth.user(&with_token("0123456789abcdef0123")).unwrap(), "bob");
        assert!(auth.sign_in("bob", "0123456789abcdef0123").await.is_ok());
        assert!(matches!(auth.sign_in("alice", "0123456789abcdef0123").await, Err(ApiError::Unauthorized(_))));
        auth.sign_out(&with_token(&token));
        assert!(matches!(auth.user(&with_token(&token)), Err(ApiError::Unauthorized(_))));
        assert!(Auth::read_tokens("carol short").is_err());
    }
}
