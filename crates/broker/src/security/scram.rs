//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks them: the stored
//! form of a password (salt, stored key, server key, iterations), and the server side of the
//! three-message exchange.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's smallest iteration count for a SCRAM credential.
pub const MIN_ITERATIONS: u32 = 4096;
/// Kafka's largest.
pub const MAX_ITERATIONS: u32 = 16384;

/// A SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Mechanism {
    /// SCRAM-SHA-256 (Kafka's mechanism type 1).
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    /// SCRAM-SHA-512 (Kafka's mechanism type 2).
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl Mechanism {
    /// Every mechanism, in Kafka's order.
    pub const ALL: [Mechanism; 2] = [Mechanism::Sha256, Mechanism::Sha512];

    /// The SASL name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => "SCRAM-SHA-256",
            Mechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism named `name` (SASL names are case-sensitive).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Kafka's number for it in the SCRAM credential APIs.
    pub fn kafka_type(self) -> i8 {
        match self {
            Mechanism::Sha256 => 1,
            Mechanism::Sha512 => 2,
        }
    }

    /// The mechanism Kafka numbers `kind`.
    pub fn from_kafka_type(kind: i8) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.kafka_type() == kind)
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Mechanism::Sha512 => {
                let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => Sha256::digest(data).to_vec(),
            Mechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// Hi() of RFC 5802: PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut block = self.hmac(password, &[salt, &1u32.to_be_bytes()].concat());
        let mut result = block.clone();
        for _ in 1..iterations {
            block = self.hmac(password, &block);
            for (r, b) in result.iter_mut().zip(&block) {
                *r ^= b;
            }
        }
        result
    }
}

/// A password as the broker keeps it: never the password itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScramCredential {
    /// Base64 in the stored file.
    #[serde(with = "base64_bytes")]
    pub salt: Vec<u8>,
    /// H(ClientKey).
    #[serde(with = "base64_bytes")]
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    #[serde(with = "base64_bytes")]
    pub server_key: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
}

impl ScramCredential {
    /// The credential for `password` with `salt` and `iterations`.
    pub fn new(mechanism: Mechanism, password: &[u8], salt: &[u8], iterations: u32) -> ScramCredential {
        ScramCredential::from_salted_password(
            mechanism,
            &mechanism.salted_password(password, salt, iterations),
            salt,
            iterations,
        )
    }

    /// The credential from a salted password (what AlterUserScramCredentials carries).
    pub fn from_salted_password(
        mechanism: Mechanism,
        salted_password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> ScramCredential {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }

    /// Whether `password` is the one this credential was made from (SASL/PLAIN checks
    /// passwords against the SCRAM credentials).
    pub fn matches_password(&self, mechanism: Mechanism, password: &[u8]) -> bool {
        let fresh = ScramCredential::new(mechanism, password, &self.salt, self.iterations);
        constant_time_eq(&fresh.stored_key, &self.stored_key)
    }
}

/// Why an exchange failed. Every failure reads the same to the client (no hint whether the
/// user exists); the variant is for the broker's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// A message that does not parse.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// No such user.
    #[error("unknown user {0}")]
    UnknownUser(String),
    /// The proof does not match.
    #[error("wrong password for {0}")]
    WrongProof(String),
    /// A message out of turn.
    #[error("SCRAM message out of turn")]
    OutOfTurn,
}

/// The server side of one SCRAM exchange.
pub struct ScramServer {
    mechanism: Mechanism,
    state: State,
}

enum State {
    Start,
    SentFirst {
        user: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        credential: ScramCredential,
    },
    Done,
}

impl ScramServer {
    /// An exchange for `mechanism`.
    pub fn new(mechanism: Mechanism) -> ScramServer {
        ScramServer { mechanism, state: State::Start }
    }

    /// The exchange's mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Whether the server's first message went out (the next is the client's last).
    pub fn has_sent_first(&self) -> bool {
        matches!(self.state, State::SentFirst { .. })
    }

    /// Answers the client's first message (`n,,n=user,r=nonce`) with the server's first, with
    /// `server_nonce` appended to the client's; `lookup` finds the user's credential.
    pub fn client_first(
        &mut self,
        message: &[u8],
        server_nonce: &str,
        lookup: impl Fn(&str) -> Option<ScramCredential>,
    ) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.state, State::Start) {
            return Err(ScramError::OutOfTurn);
        }
        self.state = State::Done;
        let message = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        // gs2 header: channel binding flag (n or y; p= is not offered), optional authzid.
        let mut parts = message.splitn(3, ',');
        let binding = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        if binding != "n" && binding != "y" {
            return Err(ScramError::Malformed("channel binding is not supported"));
        }
        let authzid = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        let bare = parts.next().ok_or(ScramError::Malformed("no client-first-message-bare"))?;
        let attributes = attributes(bare)?;
        if attributes.iter().any(|(k, _)| *k == 'm') {
            return Err(ScramError::Malformed("mandatory extensions are not supported"));
        }
        let user = unescape(value(&attributes, 'n')?)?;
        if let Some(authzid) = authzid.strip_prefix("a=")
            && unescape(authzid)? != user
        {
            return Err(ScramError::Malformed("an authorization id other than the user"));
        }
        let client_nonce = value(&attributes, 'r')?;
        let credential = lookup(&user).ok_or_else(|| ScramError::UnknownUser(user.clone()))?;
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!("r={nonce},s={},i={}", BASE64.encode(&credential.salt), credential.iterations);
        let reply = server_first.clone().into_bytes();
        self.state = State::SentFirst { user, client_first_bare: bare.to_string(), server_first, nonce, credential };
        Ok(reply)
    }

    /// Checks the client's final message (`c=...,r=...,p=proof`); on success returns the user
    /// and the server's final message (`v=signature`).
    pub fn client_final(&mut self, message: &[u8]) -> Result<(String, Vec<u8>), ScramError> {
        let State::SentFirst { user, client_first_bare, server_first, nonce, credential } =
            std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramError::OutOfTurn);
        };
        let message = std::str::from_utf8(message).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = message.rsplit_once(",p=").ok_or(ScramError::Malformed("no proof"))?;
        let attributes = attributes(without_proof)?;
        // Kafka checks only that the nonce ends with the server's (librdkafka 2.0 sends its own
        // nonce in front again); the proof covers the message as sent either way.
        if !value(&attributes, 'r')?.ends_with(&nonce) {
            return Err(ScramError::Malformed("the nonce changed"));
        }
        let binding = BASE64.decode(value(&attributes, 'c')?).map_err(|_| ScramError::Malformed("channel binding"))?;
        if !binding.starts_with(b"n,") && !binding.starts_with(b"y,") {
            return Err(ScramError::Malformed("channel binding"));
        }
        let proof = BASE64.decode(proof).map_err(|_| ScramError::Malformed("proof is not base64"))?;
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = self.mechanism.hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(ScramError::WrongProof(user));
        }
        let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect();
        if !constant_time_eq(&self.mechanism.hash(&client_key), &credential.stored_key) {
            return Err(ScramError::WrongProof(user));
        }
        let server_signature = self.mechanism.hmac(&credential.server_key, auth_message.as_bytes());
        Ok((user, format!("v={}", BASE64.encode(server_signature)).into_bytes()))
    }
}

/// The client side of one SCRAM exchange, for runnel's own protocol clients.
pub struct ScramClient {
    mechanism: Mechanism,
    password: Vec<u8>,
    client_first_bare: String,
    client_nonce: String,
    /// The server key and the auth message, once the client's last message is out.
    expected: Option<(Vec<u8>, String)>,
}

impl ScramClient {
    /// An exchange for `user` with `password`, with a fresh `client_nonce` (printable, no
    /// comma).
    pub fn new(mechanism: Mechanism, user: &str, password: &str, client_nonce: &str) -> ScramClient {
        let user = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            mechanism,
            password: password.as_bytes().to_vec(),
            client_first_bare: format!("n={user},r={client_nonce}"),
            client_nonce: client_nonce.to_string(),
            expected: None,
        }
    }

    /// The client's first message.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// The client's last message, answering the server's first.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let text = std::str::from_utf8(server_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let attributes = attributes(text)?;
        let nonce = value(&attributes, 'r')?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(ScramError::Malformed("the server's nonce does not extend ours"));
        }
        let salt = BASE64.decode(value(&attributes, 's')?).map_err(|_| ScramError::Malformed("salt"))?;
        let iterations: u32 = value(&attributes, 'i')?.parse().map_err(|_| ScramError::Malformed("iterations"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(ScramError::Malformed("iterations out of range"));
        }
        let salted = self.mechanism.salted_password(&self.password, &salt, iterations);
        let credential = ScramCredential::from_salted_password(self.mechanism, &salted, &salt, iterations);
        let client_key = self.mechanism.hmac(&salted, b"Client Key");
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let signature = self.mechanism.hmac(&credential.stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(k, s)| k ^ s).collect();
        self.expected = Some((credential.server_key, auth_message));
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    /// Checks the server's last message: the server knew the password too.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let (server_key, auth_message) = self.expected.as_ref().ok_or(ScramError::OutOfTurn)?;
        let text = std::str::from_utf8(server_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let signature = BASE64
            .decode(text.strip_prefix("v=").ok_or(ScramError::Malformed("no server signature"))?)
            .map_err(|_| ScramError::Malformed("server signature"))?;
        let expected = self.mechanism.hmac(server_key, auth_message.as_bytes());
        if constant_time_eq(&signature, &expected) {
            Ok(())
        } else {
            Err(ScramError::Malformed("the server's signature is wrong"))
        }
    }
}

fn attributes(text: &str) -> Result<Vec<(char, &str)>, ScramError> {
    text.split(',')
        .map(|part| {
            let mut chars = part.chars();
            match (chars.next(), chars.next()) {
                (Some(key), Some('=')) if key.is_ascii_alphabetic() => Ok((key, &part[2..])),
                _ => Err(ScramError::Malformed("an attribute is not k=value")),
            }
        })
        .collect()
}

fn value<'a>(attributes: &[(char, &'a str)], key: char) -> Result<&'a str, ScramError> {
    attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| *v).ok_or(ScramError::Malformed("a required attribute"))
}

/// A SCRAM user name: `=2C` is a comma, `=3D` an equals sign, and no other `=` is allowed.
fn unescape(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("a user name with a bare =")),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A fresh salt for a new credential: 32 random bytes.
pub fn fresh_salt() -> [u8; 32] {
    use rand::RngCore;
    let mut salt = [0u8; 32];
    rand::rng().fill_bytes(&mut salt);
    salt
}

/// A fresh nonce: 32 random letters and digits, as Kafka's are.
pub fn fresh_nonce() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..32).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&BASE64.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(deserializer)?;
        BASE64.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example exchange for SCRAM-SHA-256 (user "user", password "pencil").
    #[test]
    fn the_rfc_7677_exchange_verifies_and_signs_as_the_rfc_says() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential = ScramCredential::new(Mechanism::Sha256, b"pencil", &salt, 4096);
        let mut server = ScramServer::new(Mechanism::Sha256);
        let first = server
            .client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", |name| {
                (name == "user").then(|| credential.clone())
            })
            .unwrap();
        assert_eq!(
            String::from_utf8(first).unwrap(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let (user, last) = server
            .client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(user, "user");
        assert_eq!(String::from_utf8(last).unwrap(), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        assert!(credential.matches_password(Mechanism::Sha256, b"pencil"));
        assert!(!credential.matches_password(Mechanism::Sha256, b"pen"));
    }

    #[test]
    fn our_client_and_server_agree_and_the_client_checks_the_server() {
        for mechanism in Mechanism::ALL {
            let credential = ScramCredential::new(mechanism, b"p,w=d", b"salt-bytes", 4096);
            let mut client = ScramClient::new(mechanism, "al,i=ce", "p,w=d", "client-nonce");
            let mut server = ScramServer::new(mechanism);
            let first = server
                .client_first(&client.client_first(), "server-nonce", |u| (u == "al,i=ce").then(|| credential.clone()))
                .unwrap();
            let last = client.client_final(&first).unwrap();
            let (user, server_final) = server.client_final(&last).unwrap();
            assert_eq!(user, "al,i=ce");
            client.verify_server_final(&server_final).unwrap();
            assert!(client.verify_server_final(b"v=AAAA").is_err());
        }
    }

    #[test]
    fn a_wrong_proof_an_unknown_user_and_messages_out_of_turn_fail() {
        let credential = ScramCredential::new(Mechanism::Sha512, b"secret", b"salt", 4096);
        let lookup = |name: &str| (name == "alice").then(|| credential.clone());
        let mut server = ScramServer::new(Mechanism::Sha512);
        assert_eq!(server.client_first(b"n,,n=bob,r=abc", "xyz", lookup), Err(ScramError::UnknownUser("bob".into())));
        let mut server = ScramServer::new(Mechanism::Sha512);
        assert_eq!(server.client_final(b"c=biws,r=abc,p=AAAA"), Err(ScramError::OutOfTurn));
        let mut server = ScramServer::new(Mechanism::Sha512);
        server.client_first(b"n,,n=alice,r=abc", "xyz", lookup).unwrap();
        let wrong = BASE64.encode([0u8; 64]);
        let result = server.client_final(format!("c=biws,r=abcxyz,p={wrong}").as_bytes());
        assert_eq!(result, Err(ScramError::WrongProof("alice".into())));
        assert_eq!(unescape("a=2Cb=3Dc"), Ok("a,b=c".to_string()));
        assert!(unescape("a=b").is_err());
    }
}
