//! The stop list (`policies/echo-stop-words.txt`): values that are never hunted as echoes,
//! because they are also the ordinary vocabulary of a data set. Compared without case.

use std::sync::OnceLock;

/// The table as built in (part of the policy id).
pub const TABLE: &str = include_str!("../../policies/echo-stop-words.txt");

/// The words, lowercased and sorted (looked up without copying the value).
fn words() -> &'static [Vec<u8>] {
    static WORDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut w: Vec<Vec<u8>> = TABLE
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(str::split_whitespace)
            .map(|w| w.to_ascii_lowercase().into_bytes())
            .collect();
        w.sort();
        w.dedup();
        w
    })
}

pub fn is_stop_word(part: &[u8]) -> bool {
    // Stop words are short: long names and IDs are settled here.
    if part.len() > 24 {
        return false;
    }
    words()
        .binary_search_by(|w| {
            w.iter()
                .copied()
                .cmp(part.iter().map(u8::to_ascii_lowercase))
        })
        .is_ok()
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
