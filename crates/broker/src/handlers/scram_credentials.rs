//! DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554): the users SASL/SCRAM
//! authenticates, managed as `kafka-configs.sh --alter --add-config 'SCRAM-SHA-512=[...]'`
//! and `runnel user` manage them. Clients send a salted password, never the password.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;
use crate::security::scram::{MAX_ITERATIONS, MIN_ITERATIONS, Mechanism, ScramCredential};

/// Answers DescribeUserScramCredentials: every user (a null list) or the users named, with
/// their mechanisms and iteration counts.
pub fn describe(
    ctx: &RequestContext,
    request: DescribeUserScramCredentialsRequest,
) -> Handled<DescribeUserScramCredentialsResponse> {
    if !ctx.allowed_on_cluster(Operation::Describe) {
        return Handled::Ready(
            DescribeUserScramCredentialsResponse::default()
                .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
                .with_error_message(Some(StrBytes::from_static_str("not authorized to describe the cluster"))),
        );
    }
    let known: BTreeMap<String, Vec<(Mechanism, u32)>> = ctx.broker.credentials.describe().into_iter().collect();
    let info = |mechanisms: &[(Mechanism, u32)]| -> Vec<CredentialInfo> {
        mechanisms
            .iter()
            .map(|(m, iterations)| {
                CredentialInfo::default().with_mechanism(m.kafka_type()).with_iterations(*iterations as i32)
            })
            .collect()
    };
    let results = match request.users {
        None => known
            .iter()
            .map(|(user, mechanisms)| {
                DescribeUserScramCredentialsResult::default()
                    .with_user(StrBytes::from_string(user.clone()))
                    .with_credential_infos(info(mechanisms))
            })
            .collect(),
        Some(users) => {
            let mut seen = std::collections::HashSet::new();
            users
                .iter()
                .map(|u| {
                    let name = u.name.to_string();
                    let result = DescribeUserScramCredentialsResult::default().with_user(u.name.clone());
                    if !seen.insert(name.clone()) {
                        return result
                            .with_error_code(ResponseError::DuplicateResource.code())
                            .with_error_message(Some(StrBytes::from_string(format!("user {name} named twice"))));
                    }
                    match known.get(&name) {
                        Some(mechanisms) => result.with_credential_infos(info(mechanisms)),
                        None => result.with_error_code(ResponseError::ResourceNotFound.code()).with_error_message(
                            Some(StrBytes::from_string(format!(
                                "Attempt to describe a user credential that does not exist: {name}"
                            ))),
                        ),
                    }
                })
                .collect()
        }
    };
    Handled::Ready(DescribeUserScramCredentialsResponse::default().with_results(results))
}

/// Answers AlterUserScramCredentials: deletions and upsertions, each checked, then all that
/// passed applied and saved together. A user named twice gets DUPLICATE_RESOURCE, as Kafka does.
pub fn alter(
    ctx: &RequestContext,
    request: AlterUserScramCredentialsRequest,
) -> Handled<AlterUserScramCredentialsResponse> {
    let mut errors: BTreeMap<String, (ResponseError, String)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    let names = request
        .deletions
        .iter()
        .map(|d| d.name.to_string())
        .chain(request.upsertions.iter().map(|u| u.name.to_string()));
    for name in names {
        *count.entry(name.clone()).or_default() += 1;
        if !order.contains(&name) {
            order.push(name);
        }
    }
    let refused = !ctx.allowed_on_cluster(Operation::Alter);
    for (name, n) in &count {
        if refused {
            let message = "not authorized to alter the cluster's users".to_string();
            errors.insert(name.clone(), (ResponseError::ClusterAuthorizationFailed, message));
        } else if *n > 1 {
            errors.insert(
                name.clone(),
                (ResponseError::DuplicateResource, format!("user {name} is altered more than once")),
            );
        }
    }
    let mut deletions = Vec::new();
    for deletion in &request.deletions {
        let name = deletion.name.to_string();
        if errors.contains_key(&name) {
            continue;
        }
        match Mechanism::from_kafka_type(deletion.mechanism) {
            Some(m) if ctx.broker.credentials.lookup(&name, m).is_some() => deletions.push((name, m)),
            Some(m) => {
                errors.insert(
                    name.clone(),
                    (
                        ResponseError::ResourceNotFound,
                        format!("Attempt to delete a user credential that does not exist: {name} {}", m.name()),
                    ),
                );
            }
            None => {
                errors.insert(
                    name,
                    (
                        ResponseError::UnsupportedSaslMechanism,
                        format!("unknown SCRAM mechanism {}", deletion.mechanism),
                    ),
                );
            }
        }
    }
    let mut upsertions = Vec::new();
    for upsertion in &request.upsertions {
        let name = upsertion.name.to_string();
        if errors.contains_key(&name) {
            continue;
        }
        let Some(mechanism) = Mechanism::from_kafka_type(upsertion.mechanism) else {
            errors.insert(
                name,
                (ResponseError::UnsupportedSaslMechanism, format!("unknown SCRAM mechanism {}", upsertion.mechanism)),
            );
            continue;
        };
        let iterations = upsertion.iterations;
        if !(MIN_ITERATIONS as i32..=MAX_ITERATIONS as i32).contains(&iterations) {
            errors.insert(
                name,
                (
                    ResponseError::UnacceptableCredential,
                    format!("Iterations {iterations} must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"),
                ),
            );
            continue;
        }
        if name.is_empty() || upsertion.salt.is_empty() || upsertion.salted_password.is_empty() {
            errors.insert(
                name,
                (ResponseError::UnacceptableCredential, "a user name, salt and salted password are required".into()),
            );
            continue;
        }
        let credential = ScramCredential::from_salted_password(
            mechanism,
            &upsertion.salted_password,
            &upsertion.salt,
            iterations as u32,
        );
        upsertions.push((name, mechanism, credential));
    }
    let applied = ctx.broker.credentials.update(|users| {
        for (name, mechanism) in &deletions {
            if let Some(mechanisms) = users.get_mut(name) {
                mechanisms.remove(mechanism);
                if mechanisms.is_empty() {
                    users.remove(name);
                }
            }
        }
        for (name, mechanism, credential) in &upsertions {
            users.entry(name.clone()).or_default().insert(*mechanism, credential.clone());
        }
    });
    if let Err(e) = applied {
        tracing::error!(error = %e, "SCRAM credentials not saved");
        let touched = deletions.iter().map(|(n, _)| n).chain(upsertions.iter().map(|(n, _, _)| n));
        for name in touched {
            errors
                .entry(name.clone())
                .or_insert((ResponseError::KafkaStorageError, format!("the credentials were not saved: {e}")));
        }
    } else {
        for (name, mechanism) in &deletions {
            tracing::info!(user = %name, mechanism = mechanism.name(), "SCRAM credential deleted");
        }
        for (name, mechanism, _) in &upsertions {
            tracing::info!(user = %name, mechanism = mechanism.name(), "SCRAM credential set");
        }
    }
    let results = order
        .into_iter()
        .map(|name| {
            let result = AlterUserScramCredentialsResult::default().with_user(StrBytes::from_string(name.clone()));
            match errors.remove(&name) {
                Some((error, message)) => {
                    result.with_error_code(error.code()).with_error_message(Some(StrBytes::from_string(message)))
                }
                None => result,
            }
        })
        .collect();
    Handled::Ready(AlterUserScramCredentialsResponse::default().with_results(results))
}
