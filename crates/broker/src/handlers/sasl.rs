//! SaslHandshake and SaslAuthenticate outside an authentication: on a listener without SASL, or
//! on a connection already authenticated. Kafka answers both with ILLEGAL_SASL_STATE; the
//! exchange itself is the connection's (see `security::sasl`).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};

/// Answers a SaslHandshake that starts no authentication.
pub fn handshake(ctx: &RequestContext, _request: SaslHandshakeRequest) -> Handled<SaslHandshakeResponse> {
    let mechanisms = ctx.listener.sasl_mechanisms.iter().map(|m| StrBytes::from_string(m.clone())).collect();
    Handled::Ready(
        SaslHandshakeResponse::default()
            .with_error_code(ResponseError::IllegalSaslState.code())
            .with_mechanisms(mechanisms),
    )
}

/// Answers a SaslAuthenticate outside an authentication.
pub fn authenticate(ctx: &RequestContext, _request: SaslAuthenticateRequest) -> Handled<SaslAuthenticateResponse> {
    let message = if ctx.listener.protocol.uses_sasl() {
        "SaslAuthenticate request received after successful authentication"
    } else {
        "this listener takes no SASL authentication (its security protocol is PLAINTEXT or SSL)"
    };
    Handled::Ready(
        SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::IllegalSaslState.code())
            .with_error_message(Some(StrBytes::from_static_str(message))),
    )
}
