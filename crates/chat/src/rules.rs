//! Names and limits: what a room, a user and a message may be.

use crate::error::ApiError;

/// Rooms are topics named `chat.<room>`, so the chat's topics are easy to tell apart.
pub const TOPIC_PREFIX: &str = "chat.";
/// Longest room name.
pub const MAX_ROOM_LEN: usize = 64;
/// Longest user name.
pub const MAX_USER_LEN: usize = 32;
/// Longest message, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 4000;
/// Most messages one read returns.
pub const MAX_BATCH: usize = 500;
/// Longest a read may wait for new messages.
pub const MAX_WAIT_MS: u64 = 30_000;

fn name_ok(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Checks a room name: 1-64 of a-z, A-Z, 0-9, '-', '_', '.'.
pub fn room(name: &str) -> Result<(), ApiError> {
    if name_ok(name, MAX_ROOM_LEN) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "room name {name:?} is not allowed: use 1 to {MAX_ROOM_LEN} letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Checks a user name: 1-32 of a-z, A-Z, 0-9, '-', '_', '.'.
pub fn user(name: &str) -> Result<(), ApiError> {
    if name_ok(name, MAX_USER_LEN) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "user name {name:?} is not allowed: use 1 to {MAX_USER_LEN} letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Checks a message text: not blank, at most 4000 bytes.
pub fn text(text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest("message text is empty".into()));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(ApiError::BadRequest(format!("message is {} bytes; the limit is {MAX_TEXT_BYTES}", text.len())));
    }
    Ok(())
}

/// The topic of a room.
pub fn topic(room: &str) -> String {
    format!("{TOPIC_PREFIX}{room}")
}

/// The consumer group holding a user's bookmarks (one committed offset per room).
pub fn bookmark_group(user: &str) -> String {
    format!("chat.user.{user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_texts_follow_the_rules() {
        assert!(room("lobby").is_ok() && room("team-2.eu").is_ok());
        assert!(room("").is_err() && room("no spaces").is_err() && room(&"x".repeat(65)).is_err());
        assert!(user("ann_1").is_ok() && user("ann/1").is_err());
        assert!(text("hi").is_ok() && text("   ").is_err() && text(&"x".repeat(4001)).is_err());
        assert_eq!(topic("lobby"), "chat.lobby");
    }
}
