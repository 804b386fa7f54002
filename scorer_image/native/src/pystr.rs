//! Python 3.11 `str` semantics that the feature rules depend on, over Rust `&str`.
//!
//! The rules were first written in Python and a trained model depends on their exact output, so
//! lowercasing, stripping, character counts and the regex classes they used behave here as in
//! CPython 3.11: `str.lower()` is full Unicode lowercasing (U+0130 becomes two characters, a
//! capital sigma becomes final or not by its neighbours), `str.strip()` and `re`'s `\s` use
//! Python's whitespace (which has U+001C..U+001F, unlike `char::is_whitespace`), `re`'s `\d` is
//! any Unicode decimal digit, and `re.IGNORECASE` lets a few non-ASCII letters match ASCII ones
//! (U+017F for `s`, the Kelvin sign for `k`). The tables come from CPython itself
//! (`unicode_tables.rs`, generated); ASCII text takes fast paths.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::unicode_tables::{
    CASE_IGNORABLE, CASED, DECIMAL, IGNORECASE_ASCII_FOLDS, LOWERCASE_EXPANDING, LOWERCASE_SIMPLE, WHITESPACE,
};

const CAPITAL_SIGMA: char = '\u{3a3}';
const SMALL_SIGMA: char = '\u{3c3}';
const FINAL_SMALL_SIGMA: char = '\u{3c2}';

fn in_ranges(table: &[(u32, u32)], c: char) -> bool {
    let c = u32::from(c);
    table
        .binary_search_by(|&(first, last)| {
            if last < c {
                Ordering::Less
            } else if first > c {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
        .is_ok()
}

/// `WHITESPACE` below U+0080, as a bit set (bit `c` for character `c`).
const ASCII_WHITESPACE: u128 = {
    let mut bits = 0u128;
    let mut i = 0;
    while i < WHITESPACE.len() {
        if (WHITESPACE[i] as u32) < 128 {
            bits |= 1 << (WHITESPACE[i] as u32);
        }
        i += 1;
    }
    bits
};

/// Python's `str.isspace()` for one character (also `re`'s `\s`).
pub fn is_space(c: char) -> bool {
    if c.is_ascii() {
        ASCII_WHITESPACE & (1 << u32::from(c)) != 0
    } else {
        WHITESPACE.binary_search(&c).is_ok()
    }
}

/// Python's `str.isdecimal()` for one character (also `re`'s `\d` on `str` patterns).
pub fn is_decimal(c: char) -> bool {
    in_ranges(DECIMAL, c)
}

/// Python's `text.strip()` (no argument): Python whitespace removed from both ends.
pub fn strip(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// Python's `len(text)`: the number of characters (code points), not bytes.
pub fn char_len(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

/// Whether `re.IGNORECASE` lets `c` match the lowercase ASCII letter `letter`.
pub fn ignorecase_matches(c: char, letter: u8) -> bool {
    if c.is_ascii() {
        c.to_ascii_lowercase() == char::from(letter)
    } else {
        IGNORECASE_ASCII_FOLDS.contains(&(c, letter))
    }
}

/// Python's `text.lower()`, borrowed when lowercasing changes nothing.
pub fn lower(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| !b.is_ascii() || b.is_ascii_uppercase()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    lower_into(text, &mut out);
    Cow::Owned(out)
}

/// Python's `text.lower()` written into `out` (cleared first), to reuse one buffer across texts.
pub fn lower_into(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        out.push_str(text);
        out.make_ascii_lowercase();
        return;
    }
    for (at, c) in text.char_indices() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if c == CAPITAL_SIGMA {
            out.push(if is_final_sigma(text, at) {
                FINAL_SMALL_SIGMA
            } else {
                SMALL_SIGMA
            });
        } else if let Ok(k) = LOWERCASE_SIMPLE.binary_search_by_key(&c, |&(upper, _)| upper) {
            out.push(LOWERCASE_SIMPLE[k].1);
        } else if let Some((_, lowered)) = LOWERCASE_EXPANDING.iter().find(|&&(upper, _)| upper == c) {
            out.push_str(lowered);
        } else {
            out.push(c);
        }
    }
}

/// The Final_Sigma context of the capital sigma at byte `at`, as CPython's `handle_capital_sigma`:
/// a cased letter before it and none after it, case-ignorable characters skipped both ways.
fn is_final_sigma(text: &str, at: usize) -> bool {
    let is_case_ignorable = |c: char| in_ranges(CASE_IGNORABLE, c);
    let is_cased = |c: char| in_ranges(CASED, c);
    let before = text[..at].chars().rev().find(|&c| !is_case_ignorable(c));
    let after = text[at + CAPITAL_SIGMA.len_utf8()..]
        .chars()
        .find(|&c| !is_case_ignorable(c));
    before.is_some_and(is_cased) && !after.is_some_and(is_cased)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_expands_dotted_capital_i_and_keeps_ascii_borrowed() {
        assert_eq!(lower("\u{130}X"), "i\u{307}x");
        assert!(matches!(lower("plain ascii"), Cow::Borrowed(_)));
        assert_eq!(char_len(&lower("\u{130}")), 2);
    }

    #[test]
    fn lower_applies_final_sigma_by_context() {
        assert_eq!(lower("ΟΔΟΣ"), "οδος");
        assert_eq!(lower("ΟΔΟΣ."), "οδος.");
        assert_eq!(lower("ΟΔΟΣ.COM"), "οδοσ.com");
        assert_eq!(lower("Σ"), "σ");
    }

    #[test]
    fn whitespace_is_pythons() {
        assert_eq!(strip("\u{1c} a \u{3000}"), "a");
        assert!(!is_space('\u{200b}'));
    }

    #[test]
    fn ignorecase_folds_long_s_and_kelvin() {
        assert!(ignorecase_matches('\u{17f}', b's'));
        assert!(ignorecase_matches('\u{212a}', b'k'));
        assert!(ignorecase_matches('R', b'r'));
        assert!(!ignorecase_matches('\u{17f}', b'r'));
    }

    #[test]
    fn decimal_digits_beyond_ascii() {
        assert!(is_decimal('\u{661}'));
        assert!(!is_decimal('\u{b2}'));
    }
}
