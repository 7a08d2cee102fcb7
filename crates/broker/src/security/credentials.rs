//! The SCRAM credentials of the broker's users, kept durably in the data directory
//! (`scram-credentials.json`, written atomically) and in memory for authentication. The file
//! holds salts and derived keys only, as Kafka's metadata log does, never a password.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use super::scram::{Mechanism, ScramCredential};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "scram-credentials.json";

/// Per user, per mechanism, the stored credential.
pub type Users = BTreeMap<String, BTreeMap<Mechanism, ScramCredential>>;

/// The credentials, loaded at start and saved on every change.
#[derive(Debug)]
pub struct Credentials {
    path: PathBuf,
    users: RwLock<Users>,
    /// Serialises changes, so that the file is written without blocking sign-ins.
    writer: std::sync::Mutex<()>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CredentialsFile {
    version: u32,
    users: Users,
}

impl Credentials {
    /// The credentials stored in `data_dir` (none if the file does not exist).
    pub fn open(data_dir: &Path) -> io::Result<Credentials> {
        let path = data_dir.join(FILE_NAME);
        let users = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: CredentialsFile = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("{} does not parse: {e}", path.display()))
                })?;
                file.users
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Users::new(),
            Err(e) => return Err(e),
        };
        Ok(Credentials { path, users: RwLock::new(users), writer: std::sync::Mutex::new(()) })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Users> {
        self.users.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether any user exists.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// `user`'s credential for `mechanism`.
    pub fn lookup(&self, user: &str, mechanism: Mechanism) -> Option<ScramCredential> {
        self.read().get(user).and_then(|m| m.get(&mechanism)).cloned()
    }

    /// Whether `password` is `user`'s (checked against any of their SCRAM credentials), for
    /// SASL/PLAIN.
    pub fn matches_password(&self, user: &str, password: &[u8]) -> bool {
        let credentials = self.read().get(user).cloned().unwrap_or_default();
        credentials.iter().any(|(mechanism, credential)| credential.matches_password(*mechanism, password))
    }

    /// Every user and their mechanisms with iteration counts.
    pub fn describe(&self) -> Vec<(String, Vec<(Mechanism, u32)>)> {
        self.read()
            .iter()
            .map(|(user, mechanisms)| (user.clone(), mechanisms.iter().map(|(m, c)| (*m, c.iterations)).collect()))
            .collect()
    }

    /// Applies `change` to the users and saves them; the change stays only if the save does.
    /// Sign-ins go on while the file is written; only other changes wait.
    pub fn update<T>(&self, change: impl FnOnce(&mut Users) -> T) -> io::Result<T> {
        let _writing = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut changed = self.read().clone();
        let result = change(&mut changed);
        save(&self.path, &changed)?;
        *self.users.write().unwrap_or_else(|p| p.into_inner()) = changed;
        Ok(result)
    }
}

/// Writes `users` to `path` atomically and durably.
pub fn save(path: &Path, users: &Users) -> io::Result<()> {
    let file = CredentialsFile { version: 1, users: users.clone() };
    let bytes = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
    runnel_log::durable_file::write_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_survive_a_reopen_and_check_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = Credentials::open(dir.path()).unwrap();
        assert!(credentials.is_empty());
        let alice = ScramCredential::new(Mechanism::Sha512, b"wonderland", b"0123456789abcdef", 4096);
        credentials
            .update(|users| users.entry("alice".into()).or_default().insert(Mechanism::Sha512, alice.clone()))
            .unwrap();
        let reopened = Credentials::open(dir.path()).unwrap();
        assert_eq!(reopened.lookup("alice", Mechanism::Sha512), Some(alice));
        assert_eq!(reopened.lookup("alice", Mechanism::Sha256), None);
        assert!(reopened.matches_password("alice", b"wonderland"));
        assert!(!reopened.matches_password("alice", b"looking-glass"));
        assert!(!reopened.matches_password("bob", b"wonderland"));
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(!text.contains("wonderland"), "no password is stored");
    }
}
