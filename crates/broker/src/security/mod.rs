//! Who a client is and what it may do (`acl`, `authorizer`): SASL authentication (PLAIN and SCRAM-SHA-256/512) against the SCRAM
//! credentials kept in the data directory. `scram` is the mechanism, `credentials` the store,
//! `sasl` a connection's authentication, `tls` a TLS listener's configuration and the
//! principal of a client certificate.

pub mod acl;
pub mod add_scram;
pub mod authorizer;
pub mod credentials;
pub mod sasl;
pub mod scram;
pub mod tls;
