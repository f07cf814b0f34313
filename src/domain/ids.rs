//! Order and task ids in the TypeScript original's form: `ORD-` + 6 nanoid characters, tasks 6
//! uppercase characters.

use std::collections::HashSet;

/// nanoid's default URL-safe alphabet, as the TypeScript original's `nanoid(6)` uses for orders.
const ORDER_ALPHABET: [char; 64] = [
    '_', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f', 'g',
    'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z',
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S',
    'T', 'U', 'V', 'W', 'X', 'Y', 'Z',
];

/// Uppercase letters and digits. The TypeScript original upper-cased a default nanoid, which
/// also yields `_` and `-`; we leave those out so a task id never starts with `-` and reads as
/// a CLI flag (`taskctl get -X3F2Q`), and so every character is equally likely.
const TASK_ALPHABET: [char; 36] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I',
    'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z',
];

pub const ID_LEN: usize = 6;

pub fn new_order_id() -> String {
    format!(
        "ORD-{}",
        nanoid::format(random_bytes, &ORDER_ALPHABET, ID_LEN)
    )
}

/// A random token of `len` characters from nanoid's URL-safe alphabet (error batch names,
/// GitHub claim tokens).
pub fn new_token(len: usize) -> String {
    nanoid::format(random_bytes, &nanoid::alphabet::SAFE, len)
}

/// The source of randomness of every id and token here: the platform's CSPRNG
/// (`crypto.getRandomValues` in the Worker). nanoid's default seeds a fresh ChaCha generator
/// from that same source for every id: creating a 100-task order spent about a fifth of its
/// CPU in the Worker doing so (CPU profile of the isolate), and the generator was 2.6 KiB of
/// the gzipped wasm.
fn random_bytes(size: usize) -> Vec<u8> {
    let mut bytes = vec![0; size];
    // The Worker's `crypto.getRandomValues` does not fail for a buffer this small.
    getrandom::getrandom(&mut bytes).expect("the platform's random source failed");
    bytes
}

/// `count` task ids, distinct from each other (a collision with stored ids is the store's
/// concern: it retries the whole write with fresh ids).
pub fn new_task_ids(count: usize) -> Vec<String> {
    let mut seen = HashSet::with_capacity(count);
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        let id = nanoid::format(random_bytes, &TASK_ALPHABET, ID_LEN);
        if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    ids
}

/// Whether a path segment could be an id at all (ours, or one the TypeScript version made).
/// Anything else is answered 404 without a query.
pub fn is_plausible_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_have_the_original_form() {
        for _ in 0..200 {
            let id = new_order_id();
            assert_eq!(id.len(), 10, "{id}");
            assert!(id.starts_with("ORD-"));
            assert!(id[4..].chars().all(|c| ORDER_ALPHABET.contains(&c)));
        }
    }

    #[test]
    fn task_ids_are_six_uppercase_characters_and_distinct() {
        let ids = new_task_ids(2000);
        assert_eq!(ids.len(), 2000);
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 2000);
        for id in &ids {
            assert_eq!(id.len(), ID_LEN);
            assert!(id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        }
    }

    #[test]
    fn plausible_ids_accept_both_generations_and_refuse_the_rest() {
        assert!(is_plausible_id("ORD-a_Z-09"));
        assert!(is_plausible_id("X3F2Q_"));
        assert!(!is_plausible_id(""));
        assert!(!is_plausible_id("a/b"));
        assert!(!is_plausible_id("%2e%2e"));
        assert!(!is_plausible_id(&"A".repeat(65)));
    }
}
