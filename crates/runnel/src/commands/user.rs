//! `runnel user`: the users SASL/SCRAM signs in, through Kafka's SCRAM credential APIs, so it
//! manages users on any Kafka-compatible cluster (as `kafka-configs.sh --entity-type users`).
//! The password is salted and hashed here; only the salted password travels.

use std::io::BufRead;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Subcommand;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use runnel_broker::security::scram::{MAX_ITERATIONS, MIN_ITERATIONS, Mechanism, fresh_salt};
use serde::Serialize;

use super::client::ClientArgs;
use super::output::{Output, print_json};
use super::wire::{Connection, describe_code};

/// `runnel user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user, or set a new password (read from stdin unless --password is given).
    Add {
        /// The user name.
        name: String,
        /// The password (visible to other local users in the process list; prefer stdin).
        #[arg(long)]
        password: Option<String>,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, default_value = "SCRAM-SHA-512")]
        mechanism: String,
        /// PBKDF2 iterations (4096 to 16384).
        #[arg(long, default_value_t = MIN_ITERATIONS)]
        iterations: u32,
    },
    /// Delete a user's credentials (every mechanism unless --mechanism).
    Delete {
        /// The user name.
        name: String,
        /// Only this mechanism's credential.
        #[arg(long)]
        mechanism: Option<String>,
    },
    /// List the users and their mechanisms.
    List,
}

/// Runs a user subcommand.
pub fn run(command: UserCommand, client: &ClientArgs) -> anyhow::Result<()> {
    let mut connection = client.connection()?;
    match command {
        UserCommand::Add { name, password, mechanism, iterations } => {
            let mechanism = mechanism_named(&mechanism)?;
            if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
                bail!("--iterations {iterations}: between {MIN_ITERATIONS} and {MAX_ITERATIONS}");
            }
            let password = match password {
                Some(password) => password,
                None => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line).context("read the password from stdin")?;
                    line.trim_end_matches(['\n', '\r']).to_string()
                }
            };
            if password.is_empty() {
                bail!("an empty password: give --password or a line on stdin");
            }
            let salt = fresh_salt();
            let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
            let upsertion = ScramCredentialUpsertion::default()
                .with_name(StrBytes::from_string(name.clone()))
                .with_mechanism(mechanism.kafka_type())
                .with_iterations(iterations as i32)
                .with_salt(Bytes::copy_from_slice(&salt))
                .with_salted_password(Bytes::from(salted));
            alter(&mut connection, AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsertion]))?;
            report(client.output, "added", &name, &[mechanism])
        }
        UserCommand::Delete { name, mechanism } => {
            let mechanisms = match mechanism {
                Some(m) => vec![mechanism_named(&m)?],
                None => {
                    let users = describe(&mut connection, Some(&name))?;
                    users
                        .into_iter()
                        .flat_map(|u| u.mechanisms)
                        .filter_map(|m| mechanism_named(&m.mechanism).ok())
                        .collect()
                }
            };
            let deletions = mechanisms
                .iter()
                .map(|m| {
                    ScramCredentialDeletion::default()
                        .with_name(StrBytes::from_string(name.clone()))
                        .with_mechanism(m.kafka_type())
                })
                .collect();
            alter(&mut connection, AlterUserScramCredentialsRequest::default().with_deletions(deletions))?;
            report(client.output, "deleted", &name, &mechanisms)
        }
        UserCommand::List => {
            let users = describe(&mut connection, None)?;
            match client.output {
                Output::Json => print_json(&users),
                Output::Table => {
                    println!("{:<24} MECHANISMS", "USER");
                    for user in users {
                        let mechanisms: Vec<String> = user
                            .mechanisms
                            .iter()
                            .map(|m| format!("{} ({} iterations)", m.mechanism, m.iterations))
                            .collect();
                        println!("{:<24} {}", user.name, mechanisms.join(", "));
                    }
                    Ok(())
                }
            }
        }
    }
}

/// A user and their SCRAM mechanisms.
#[derive(Debug, Serialize)]
struct User {
    name: String,
    mechanisms: Vec<UserMechanism>,
}

#[derive(Debug, Serialize)]
struct UserMechanism {
    mechanism: String,
    iterations: i32,
}

fn mechanism_named(name: &str) -> anyhow::Result<Mechanism> {
    Mechanism::from_name(name).ok_or_else(|| anyhow::anyhow!("{name}: expected SCRAM-SHA-256 or SCRAM-SHA-512"))
}

fn alter(connection: &mut Connection, request: AlterUserScramCredentialsRequest) -> anyhow::Result<()> {
    let (_, response): (i16, AlterUserScramCredentialsResponse) =
        connection.call(ApiKey::AlterUserScramCredentials, 0, &request)?;
    for result in &response.results {
        if result.error_code != 0 {
            let message = result.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
            bail!("user {}: {} {message}", result.user, describe_code(result.error_code));
        }
    }
    Ok(())
}

fn describe(connection: &mut Connection, name: Option<&str>) -> anyhow::Result<Vec<User>> {
    let users = name.map(|n| {
        vec![
            kafka_protocol::messages::describe_user_scram_credentials_request::UserName::default()
                .with_name(StrBytes::from_string(n.to_string())),
        ]
    });
    let request = DescribeUserScramCredentialsRequest::default().with_users(users);
    let (_, response): (i16, DescribeUserScramCredentialsResponse) =
        connection.call(ApiKey::DescribeUserScramCredentials, 0, &request)?;
    if response.error_code != 0 {
        bail!("the cluster refused to list users: {}", describe_code(response.error_code));
    }
    response
        .results
        .iter()
        .map(|result| {
            if result.error_code != 0 {
                let message = result.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
                bail!("user {}: {} {message}", result.user, describe_code(result.error_code));
            }
            Ok(User {
                name: result.user.to_string(),
                mechanisms: result
                    .credential_infos
                    .iter()
                    .map(|info| UserMechanism {
                        mechanism: Mechanism::from_kafka_type(info.mechanism)
                            .map_or_else(|| format!("mechanism {}", info.mechanism), |m| m.name().to_string()),
                        iterations: info.iterations,
                    })
                    .collect(),
            })
        })
        .collect()
}

fn report(output: Output, done: &str, name: &str, mechanisms: &[Mechanism]) -> anyhow::Result<()> {
    let names: Vec<&str> = mechanisms.iter().map(|m| m.name()).collect();
    match output {
        Output::Json => print_json(&serde_json::json!({"user": name, done: names})),
        Output::Table => {
            println!("user {name}: {done} {}", names.join(", "));
            Ok(())
        }
    }
}
