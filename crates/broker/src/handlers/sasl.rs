//! SaslHandshake and SaslAuthenticate outside an authentication: on a PLAINTEXT listener, or
//! on a connection already authenticated. Kafka answers both with ILLEGAL_SASL_STATE; the
//! exchange itself is the connection's (see `security::sasl`).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::config::SecurityProtocol;

/// Answers a SaslHandshake that starts no authentication.
pub fn handshake(ctx: &RequestContext, _request: SaslHandshakeRequest) -> Handled<SaslHandshakeResponse> {
    let mechanisms = match ctx.broker.config.security_protocol {
        SecurityProtocol::SaslPlaintext => {
            ctx.broker.config.sasl_enabled_mechanisms.iter().map(|m| StrBytes::from_string(m.clone())).collect()
        }
        SecurityProtocol::Plaintext => Vec::new(),
    };
    Handled::Ready(
        SaslHandshakeResponse::default()
            .with_error_code(ResponseError::IllegalSaslState.code())
            .with_mechanisms(mechanisms),
    )
}

/// Answers a SaslAuthenticate outside an authentication.
pub fn authenticate(ctx: &RequestContext, _request: SaslAuthenticateRequest) -> Handled<SaslAuthenticateResponse> {
    let message = match ctx.broker.config.security_protocol {
        SecurityProtocol::SaslPlaintext => "SaslAuthenticate request received after successful authentication",
        SecurityProtocol::Plaintext => "this listener is PLAINTEXT: it takes no SASL authentication",
    };
    Handled::Ready(
        SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::IllegalSaslState.code())
            .with_error_message(Some(StrBytes::from_static_str(message))),
    )
}
