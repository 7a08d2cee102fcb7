//! Reads the topics out of a consumer's subscription (the metadata of the `consumer` protocol
//! type, versions 0-3), so OffsetDelete can refuse topics a live group still reads.

use bytes::Buf;

/// Topics named in a consumer-protocol subscription; empty if it cannot be read.
pub fn subscription_topics(mut metadata: &[u8]) -> Vec<String> {
    let mut topics = Vec::new();
    if metadata.remaining() < 6 {
        return topics;
    }
    let _version = metadata.get_i16();
    let count = metadata.get_i32();
    for _ in 0..count.max(0) {
        if metadata.remaining() < 2 {
            break;
        }
        let len = metadata.get_i16();
        if len < 0 || metadata.remaining() < len as usize {
            break;
        }
        if let Ok(topic) = std::str::from_utf8(&metadata[..len as usize]) {
            topics.push(topic.to_string());
        }
        metadata.advance(len as usize);
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_topics_of_a_subscription_and_survives_garbage() {
        let mut sub = vec![0, 1, 0, 0, 0, 2];
        for t in ["orders", "chat"] {
            sub.extend_from_slice(&(t.len() as i16).to_be_bytes());
            sub.extend_from_slice(t.as_bytes());
        }
        sub.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(subscription_topics(&sub), vec!["orders".to_string(), "chat".to_string()]);
        for cut in 0..sub.len() {
            subscription_topics(&sub[..cut]);
        }
        assert!(subscription_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).is_empty());
    }
}
