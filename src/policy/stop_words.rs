//! The stop list (`policies/echo-stop-words.txt`): values that are never hunted as echoes,
//! because they are also the ordinary vocabulary of a data set. Compared without case.

use std::sync::OnceLock;

/// The table as built in (part of the policy id).
pub const TABLE: &str = include_str!("../../policies/echo-stop-words.txt");

/// The words, lowercased, in a set (one hash and one compare per lookup).
fn words() -> &'static rustc_hash::FxHashSet<Box<[u8]>> {
    static WORDS: OnceLock<rustc_hash::FxHashSet<Box<[u8]>>> = OnceLock::new();
    WORDS.get_or_init(|| {
        TABLE
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(str::split_whitespace)
            .map(|w| w.to_ascii_lowercase().into_bytes().into_boxed_slice())
            .collect()
    })
}

/// Whether `part` (any case) is on the stop list.
pub fn is_stop_word(part: &[u8]) -> bool {
    // Stop words are short: long names and IDs are settled here.
    if part.len() > 24 {
        return false;
    }
    let mut lower = [0u8; 24];
    let lower = &mut lower[..part.len()];
    lower.copy_from_slice(part);
    lower.make_ascii_lowercase();
    words().contains(&*lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_match_without_case_and_nothing_else() {
        assert!(
            words().iter().all(|w| w.len() <= 24),
            "the length test holds"
        );
        assert!(is_stop_word(b"HEAD") && is_stop_word(b"head") && is_stop_word(b"Siemens"));
        assert!(!is_stop_word(b"HEADLEY") && !is_stop_word(b"DOE"));
    }
}
