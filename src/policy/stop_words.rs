//! The stop list (`policies/echo-stop-words.txt`): values that are never hunted as echoes,
//! because they are also the ordinary vocabulary of a data set. Compared without case.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The table as built in (part of the policy id).
pub const TABLE: &str = include_str!("../../policies/echo-stop-words.txt");

fn words() -> &'static HashSet<String> {
    static WORDS: OnceLock<HashSet<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        TABLE
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(str::split_whitespace)
            .map(str::to_ascii_lowercase)
            .collect()
    })
}

pub fn is_stop_word(part: &[u8]) -> bool {
    std::str::from_utf8(part).is_ok_and(|s| words().contains(&s.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_match_without_case_and_nothing_else() {
        assert!(is_stop_word(b"HEAD") && is_stop_word(b"head") && is_stop_word(b"Siemens"));
        assert!(!is_stop_word(b"HEADLEY") && !is_stop_word(b"DOE"));
    }
}
