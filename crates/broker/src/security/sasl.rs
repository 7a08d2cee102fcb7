//! A connection's SASL authentication on a `SASL_PLAINTEXT` listener, as Kafka does it
//! (KIP-43, KIP-152): after ApiVersions, a SaslHandshake names the mechanism, SaslAuthenticate
//! requests carry its tokens, and until they succeed every other request closes the
//! connection. A failed authentication is answered with SASL_AUTHENTICATION_FAILED after
//! `connection.failed.authentication.delay.ms`, and the connection closed. With
//! `connections.max.reauth.ms`, a sign-in lasts that long (SaslAuthenticate tells the client):
//! the client signs in again on the same connection as the same principal (KIP-368), or its
//! next request after the end closes the connection.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::credentials::Credentials;
use super::scram::{Mechanism, ScramServer, fresh_nonce};
use crate::api::{ReplyFrame, encode_response};
use crate::fetch_response::FramePart;
use crate::frame::{self, FrameError};

/// The mechanisms runnel serves.
pub const SUPPORTED: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// What the connection does with a request while the client is not authenticated.
pub enum Intercepted {
    /// Not for the authenticator (ApiVersions, or any request once authenticated): dispatch
    /// it as usual.
    Dispatch,
    /// Answer and go on.
    Reply(ReplyFrame),
    /// Answer, then close the connection after the failed-authentication delay.
    Failed {
        /// The answer (its error code says why).
        reply: ReplyFrame,
        /// For the broker's log.
        reason: String,
    },
    /// Close the connection now (a request other than ApiVersions or SASL before
    /// authentication, or one out of turn).
    Refused(String),
}

/// One connection's authentication.
pub struct Authenticator {
    enabled: Vec<String>,
    state: State,
    /// A SaslHandshake v0 chose raw tokens.
    raw_tokens: bool,
    /// `connections.max.reauth.ms`: how long a sign-in lasts (0: for the connection's life).
    lifetime_ms: i64,
    /// When the current sign-in ends, if it does.
    expires: Option<Instant>,
    /// During a re-authentication (KIP-368), who the connection was signed in as: the new
    /// sign-in must be the same principal.
    previous: Option<String>,
    /// Sign-ins after the first on this connection.
    reauthentications: u64,
}

enum State {
    Handshake,
    Plain,
    Scram(ScramServer),
    Authenticated(String),
}

impl Authenticator {
    /// An authenticator offering the `enabled` mechanisms, each sign-in lasting `lifetime_ms`
    /// (0: for the connection's life; otherwise the client must re-authenticate in time).
    pub fn new(enabled: &[String], lifetime_ms: i64) -> Authenticator {
        Authenticator {
            enabled: enabled.to_vec(),
            state: State::Handshake,
            raw_tokens: false,
            lifetime_ms,
            expires: None,
            previous: None,
            reauthentications: 0,
        }
    }

    /// The authenticated user, once there is one (during a re-authentication, the user it
    /// re-authenticates).
    pub fn principal(&self) -> Option<&str> {
        match &self.state {
            State::Authenticated(user) => Some(user),
            _ => self.previous.as_deref(),
        }
    }

    /// How many times the connection signed in again (KIP-368).
    pub fn reauthentications(&self) -> u64 {
        self.reauthentications
    }

    /// Whether the next token is a PLAIN password, whose check runs PBKDF2 (thousands of HMAC
    /// rounds): the connection runs it off the async workers.
    pub fn next_token_is_plain(&self) -> bool {
        matches!(self.state, State::Plain)
    }

    fn expired(&self) -> bool {
        self.expires.is_some_and(|at| Instant::now() >= at)
    }

    /// Handles `frame` (without its size prefix) if it is the authenticator's to handle.
    pub fn intercept(&mut self, credentials: &Credentials, frame: &Bytes) -> Result<Intercepted, FrameError> {
        if let State::Authenticated(user) = &self.state {
            let head = frame::peek_head(frame)?;
            // KIP-368: a new SaslHandshake (v1, framed tokens) starts a re-authentication.
            if head.api_key == ApiKey::SaslHandshake as i16 && head.api_version == 1 {
                self.previous = Some(user.clone());
                self.state = State::Handshake;
            } else if self.expired() {
                return Ok(Intercepted::Refused(format!(
                    "{user}'s session ended (connections.max.reauth.ms) and the client did not re-authenticate"
                )));
            } else {
                return Ok(Intercepted::Dispatch);
            }
        }
        if self.raw_tokens && matches!(self.state, State::Plain | State::Scram(_)) {
            return Ok(self.authenticate_raw(credentials, frame));
        }
        let head = frame::peek_head(frame)?;
        let api = ApiKey::try_from(head.api_key).map_err(|_| FrameError::UnknownApiKey(head.api_key))?;
        match api {
            ApiKey::ApiVersions => Ok(Intercepted::Dispatch),
            ApiKey::SaslHandshake if (0..=1).contains(&head.api_version) => {
                let mut body = frame.clone();
                frame::decode_header(api, head.api_version, &mut body)?;
                let request = frame::decode_body::<SaslHandshakeRequest>(api, head.api_version, &mut body)?;
                // v0: the tokens that follow come raw, without Kafka's request framing.
                self.raw_tokens = head.api_version == 0;
                Ok(self.handshake(request.mechanism.as_str(), head.api_version, head.correlation_id))
            }
            ApiKey::SaslAuthenticate if (0..=2).contains(&head.api_version) => {
                let mut body = frame.clone();
                frame::decode_header(api, head.api_version, &mut body)?;
                let request = frame::decode_body::<SaslAuthenticateRequest>(api, head.api_version, &mut body)?;
                Ok(self.authenticate(credentials, &request.auth_bytes, head.api_version, head.correlation_id))
            }
            // During a re-authentication the session that is ending still serves the client.
            _ if self.previous.is_some() && !self.expired() => Ok(Intercepted::Dispatch),
            other => Ok(Intercepted::Refused(format!(
                "{other:?} v{} before SASL authentication (a client without SASL settings on a SASL listener?)",
                head.api_version
            ))),
        }
    }

    fn handshake(&mut self, mechanism: &str, version: i16, correlation_id: i32) -> Intercepted {
        let mechanisms: Vec<StrBytes> = self.enabled.iter().map(|m| StrBytes::from_string(m.clone())).collect();
        if !matches!(self.state, State::Handshake) {
            return Intercepted::Refused("a second SaslHandshake before authentication finished".into());
        }
        let enabled = self.enabled.iter().any(|m| m == mechanism);
        let next = match mechanism {
            "PLAIN" if enabled => Some(State::Plain),
            _ if enabled => Mechanism::from_name(mechanism).map(|m| State::Scram(ScramServer::new(m))),
            _ => None,
        };
        let Some(next) = next else {
            let response = SaslHandshakeResponse::default()
                .with_error_code(ResponseError::UnsupportedSaslMechanism.code())
                .with_mechanisms(mechanisms);
            return Intercepted::Failed {
                reply: encode_response(ApiKey::SaslHandshake, version, correlation_id, &response),
                reason: format!("mechanism {mechanism} is not enabled (enabled: {})", self.enabled.join(", ")),
            };
        };
        self.state = next;
        let response = SaslHandshakeResponse::default().with_mechanisms(mechanisms);
        Intercepted::Reply(encode_response(ApiKey::SaslHandshake, version, correlation_id, &response))
    }

    /// One token of the exchange, answered as SaslAuthenticate `version` would be.
    fn authenticate(
        &mut self,
        credentials: &Credentials,
        token: &[u8],
        version: i16,
        correlation_id: i32,
    ) -> Intercepted {
        let reply = |response: SaslAuthenticateResponse| {
            encode_response(ApiKey::SaslAuthenticate, version, correlation_id, &response)
        };
        match self.exchange(credentials, token) {
            Step::Token(bytes) => {
                let mut response = SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(bytes));
                if let State::Authenticated(user) = &self.state {
                    if let Some(previous) = self.previous.take() {
                        if previous != *user {
                            let response = SaslAuthenticateResponse::default()
                                .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                                .with_error_message(Some(StrBytes::from_static_str(
                                    "Cannot change principals during re-authentication",
                                )));
                            return Intercepted::Failed {
                                reply: reply(response),
                                reason: format!("re-authentication as {user} on a connection of {previous}"),
                            };
                        }
                        self.reauthentications += 1;
                    }
                    if self.lifetime_ms > 0 {
                        self.expires = Some(Instant::now() + Duration::from_millis(self.lifetime_ms as u64));
                        if version >= 1 {
                            response.session_lifetime_ms = self.lifetime_ms;
                        }
                    }
                }
                Intercepted::Reply(reply(response))
            }
            Step::Failed { mechanism, reason } => {
                let message = format!(
                    "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
                );
                let response = SaslAuthenticateResponse::default()
                    .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                    .with_error_message(Some(StrBytes::from_string(message)));
                Intercepted::Failed { reply: reply(response), reason }
            }
            Step::OutOfTurn => Intercepted::Refused("SaslAuthenticate before a SaslHandshake named a mechanism".into()),
        }
    }

    /// One raw token after a SaslHandshake v0 (no Kafka framing): answered with the raw
    /// token; a failure closes the connection, as Kafka does.
    fn authenticate_raw(&mut self, credentials: &Credentials, token: &[u8]) -> Intercepted {
        match self.exchange(credentials, token) {
            Step::Token(bytes) => {
                let mut frame = Vec::with_capacity(4 + bytes.len());
                frame.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                frame.extend_from_slice(&bytes);
                Intercepted::Reply(Ok(vec![FramePart::Bytes(Bytes::from(frame))]))
            }
            Step::Failed { reason, .. } => Intercepted::Failed { reply: Ok(Vec::new()), reason },
            Step::OutOfTurn => Intercepted::Refused("a SASL token out of turn".into()),
        }
    }

    fn exchange(&mut self, credentials: &Credentials, token: &[u8]) -> Step {
        let failed = |mechanism: &'static str, reason: String| Step::Failed { mechanism, reason };
        match std::mem::replace(&mut self.state, State::Handshake) {
            State::Plain => match plain_credentials(token) {
                Some((user, password)) if credentials.matches_password(&user, password.as_bytes()) => {
                    self.state = State::Authenticated(user);
                    Step::Token(Vec::new())
                }
                Some((user, _)) => failed("PLAIN", format!("wrong password or unknown user {user}")),
                None => failed("PLAIN", "a malformed PLAIN token".into()),
            },
            State::Scram(mut server) => {
                let mechanism = server.mechanism();
                if !server.has_sent_first() {
                    let lookup = |user: &str| credentials.lookup(user, mechanism);
                    match server.client_first(token, &fresh_nonce(), lookup) {
                        Ok(first) => {
                            self.state = State::Scram(server);
                            Step::Token(first)
                        }
                        Err(e) => failed(mechanism.name(), e.to_string()),
                    }
                } else {
                    match server.client_final(token) {
                        Ok((user, last)) => {
                            self.state = State::Authenticated(user);
                            Step::Token(last)
                        }
                        Err(e) => failed(mechanism.name(), e.to_string()),
                    }
                }
            }
            State::Handshake | State::Authenticated(_) => Step::OutOfTurn,
        }
    }
}

/// What one token of the exchange led to.
enum Step {
    /// The token to answer with (empty when PLAIN succeeds).
    Token(Vec<u8>),
    /// The credentials are wrong.
    Failed { mechanism: &'static str, reason: String },
    /// A token before a mechanism was chosen.
    OutOfTurn,
}

/// `authzid NUL user NUL password` (RFC 4616); an authorization id, if given, must be the user.
fn plain_credentials(token: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(token).ok()?;
    let mut parts = text.split('\0');
    let (authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || user.is_empty() || (!authzid.is_empty() && authzid != user) {
        return None;
    }
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tokens_name_one_user_with_their_password() {
        assert_eq!(plain_credentials(b"\0alice\0secret"), Some(("alice".into(), "secret".into())));
        assert_eq!(plain_credentials(b"alice\0alice\0secret"), Some(("alice".into(), "secret".into())));
        assert_eq!(plain_credentials(b"bob\0alice\0secret"), None, "speaking for another user");
        assert_eq!(plain_credentials(b"\0alice"), None);
        assert_eq!(plain_credentials(b"\0\0secret"), None);
    }
}
