//! Kafka's `--add-scram` syntax, as `kafka-storage.sh format` and `kafka-configs.sh` take it:
//! `SCRAM-SHA-512=[name=admin,password=secret]`, with `iterations=8192` optional and values
//! in double quotes where they hold commas.

use super::scram::{MAX_ITERATIONS, MIN_ITERATIONS, Mechanism, ScramCredential, fresh_salt};

/// A user's credential to add, parsed from `--add-scram`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddScram {
    /// The user.
    pub user: String,
    /// The mechanism.
    pub mechanism: Mechanism,
    /// The credential (salted with fresh random bytes).
    pub credential: ScramCredential,
}

/// Parses one `--add-scram` value.
pub fn parse(spec: &str) -> Result<AddScram, String> {
    let usage = "expected MECHANISM=[name=USER,password=PASSWORD] (iterations=N optional)";
    let (mechanism, rest) = spec.split_once('=').ok_or_else(|| format!("{spec}: {usage}"))?;
    let mechanism = Mechanism::from_name(mechanism.trim())
        .ok_or_else(|| format!("{mechanism}: not a SCRAM mechanism (SCRAM-SHA-256 or SCRAM-SHA-512)"))?;
    let inner =
        rest.trim().strip_prefix('[').and_then(|r| r.strip_suffix(']')).ok_or_else(|| format!("{spec}: {usage}"))?;
    let (mut user, mut password, mut iterations) = (None, None, MIN_ITERATIONS);
    for (key, value) in pairs(inner)? {
        match key.as_str() {
            "name" => user = Some(value),
            "password" => password = Some(value),
            "iterations" => {
                iterations = value
                    .parse()
                    .ok()
                    .filter(|i| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(i))
                    .ok_or_else(|| format!("iterations={value}: between {MIN_ITERATIONS} and {MAX_ITERATIONS}"))?
            }
            other => return Err(format!("{other}: unknown key ({usage})")),
        }
    }
    let user = user.filter(|u| !u.is_empty()).ok_or_else(|| format!("{spec}: no name ({usage})"))?;
    let password = password.filter(|p| !p.is_empty()).ok_or_else(|| format!("{spec}: no password ({usage})"))?;
    let salt = fresh_salt();
    let credential = ScramCredential::new(mechanism, password.as_bytes(), &salt, iterations);
    Ok(AddScram { user, mechanism, credential })
}

/// `key=value` pairs separated by commas; a value may be double-quoted.
fn pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').ok_or_else(|| format!("{rest}: expected key=value"))?;
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').ok_or_else(|| format!("{after}: an unclosed quote"))?;
                (quoted[..end].to_string(), &quoted[end + 1..])
            }
            None => match after.find(',') {
                Some(comma) => (after[..comma].to_string(), &after[comma..]),
                None => (after.to_string(), ""),
            },
        };
        out.push((key.trim().to_string(), value));
        rest = after.trim_start().strip_prefix(',').unwrap_or(after).trim_start();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_add_scram_syntax_parses_with_quotes_and_iterations() {
        let admin = parse("SCRAM-SHA-512=[name=admin,password=admin-secret]").unwrap();
        assert_eq!(
            (admin.user.as_str(), admin.mechanism, admin.credential.iterations),
            ("admin", Mechanism::Sha512, 4096)
        );
        assert!(admin.credential.matches_password(Mechanism::Sha512, b"admin-secret"));
        let quoted = parse(r#"SCRAM-SHA-256=[name=alice,password="a,b=c",iterations=8192]"#).unwrap();
        assert!(quoted.credential.matches_password(Mechanism::Sha256, b"a,b=c"));
        assert_eq!(quoted.credential.iterations, 8192);
        assert!(parse("SCRAM-SHA-1=[name=a,password=b]").unwrap_err().contains("not a SCRAM mechanism"));
        assert!(parse("SCRAM-SHA-512=[name=a]").unwrap_err().contains("no password"));
        assert!(parse("SCRAM-SHA-512=[name=a,password=b,iterations=10]").unwrap_err().contains("between"));
    }
}
