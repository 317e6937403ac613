//! What every reader of client input shares with the OpenAPI document, so that the document
//! promises exactly what is accepted (issue 19: a schema-valid request is never refused, a
//! schema-violating one never accepted):
//!
//! - [`matches()`]: a field's pattern is one string, declared in the document (`pattern`) and
//!   checked here with it, not a second hand-written rule.
//! - [`integral_floats_as_integers`] and [`integer`]: JSON has one kind of number and JSON
//!   Schema counts `52.0` as the integer 52, so where an integer is asked for, `52.0` (in a
//!   body, a query or a path) is read as 52.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex_automata::meta::Regex;

/// Whether `text` matches `pattern` as JSON Schema reads a `pattern` (a search: anchor it with
/// `^…$` to match the whole). The pattern is compiled once. A pattern that does not compile
/// (a bug, caught by the tests of every declared pattern) matches nothing.
pub fn matches(pattern: &'static str, text: &str) -> bool {
    static COMPILED: LazyLock<Mutex<HashMap<&'static str, Option<Regex>>>> =
        LazyLock::new(Default::default);
    let regex = {
        let mut compiled = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
        compiled
            .entry(pattern)
            .or_insert_with(|| Regex::new(pattern).ok())
            .clone()
    };
    regex.is_some_and(|r| r.is_match(text))
}

/// Whether `pattern` compiles (every pattern the document declares must: [`matches()`] finds
/// nothing with one that does not).
pub fn is_pattern(pattern: &str) -> bool {
    Regex::new(pattern).is_ok()
}

/// -2^63, `i64::MIN` as a float.
const I64_MIN: f64 = -9_223_372_036_854_775_808.0;
/// 2^63, the first float past `i64::MAX`.
const I64_END: f64 = 9_223_372_036_854_775_808.0;
/// 2^64, the first float past `u64::MAX`.
const U64_END: f64 = 18_446_744_073_709_551_616.0;

/// The JSON text with every number written with a fraction or an exponent whose value is an
/// integer from -2^63 up to (not including) 2^64 (`52.0`, `1e3`) written as that integer
/// instead; `None` when there is none. Strings are left alone, and so are integer literals
/// (one out of range stays what it is, and is refused where an integer is asked for). The
/// text need not be valid JSON: what is not is refused by the parser afterwards.
pub fn integral_floats_as_integers(json: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let (mut i, mut copied, mut in_string) = (0, 0, false);
    while i < json.len() {
        let b = json[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < json.len()
                    && matches!(json[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let token = &json[start..i];
                if let Some(integer) = integral_float(token) {
                    let o = out.get_or_insert_with(|| Vec::with_capacity(json.len()));
                    o.extend_from_slice(&json[copied..start]);
                    o.extend_from_slice(integer.as_bytes());
                    copied = i;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.map(|mut o| {
        o.extend_from_slice(&json[copied..]);
        o
    })
}

/// A number token with a fraction or an exponent whose value is an integer in range, as an
/// integer's text.
fn integral_float(token: &[u8]) -> Option<String> {
    if !token.iter().any(|c| matches!(c, b'.' | b'e' | b'E')) {
        return None;
    }
    let f: f64 = std::str::from_utf8(token).ok()?.parse().ok()?;
    if f.fract() != 0.0 || !(I64_MIN..U64_END).contains(&f) {
        return None;
    }
    // Exact: a float with no fraction in these ranges is one integer of the type.
    Some(if f < I64_END {
        (f as i64).to_string()
    } else {
        (f as u64).to_string()
    })
}

/// A decimal integer as a URL or a form carries it: `52`, `-3`, and `52.0` (a fraction of
/// zeros, as a JSON Schema `integer` may be written).
pub fn integer(text: &str) -> Option<i64> {
    let whole = match text.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') => {
            whole
        }
        Some(_) => return None,
        None => text,
    };
    whole.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_is_a_search_unless_anchored() {
        assert!(matches("\\S", "  x "));
        assert!(!matches("\\S", " \t"));
        assert!(matches("^[a-z]{2}$", "ab"));
        assert!(!matches("^[a-z]{2}$", "abc"));
        assert!(
            !matches("(", "anything"),
            "a broken pattern matches nothing"
        );
    }

    #[test]
    fn integral_floats_become_integers_and_the_rest_stays_as_written() {
        let text = br#"{"a": 52.0, "b": [1e2, 1.5], "c": -9.223372036854775808e18, "d": "7.0",
                        "e": -9223372036854775809, "f": 1.8446744073709552e19, "g": 3}"#;
        let out = integral_floats_as_integers(text).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a": 52, "b": [100, 1.5], "c": -9223372036854775808, "d": "7.0",
                        "e": -9223372036854775809, "f": 1.8446744073709552e19, "g": 3}"#
        );
        assert_eq!(
            integral_floats_as_integers(br#"{"a": 1, "b": "2.0"}"#),
            None
        );
        assert_eq!(
            integral_floats_as_integers(br#"{"a": "\"", "b": 2.0}"#).unwrap(),
            br#"{"a": "\"", "b": 2}"#
        );
    }

    #[test]
    fn integers_in_text_may_carry_a_fraction_of_zeros() {
        assert_eq!(integer("52"), Some(52));
        assert_eq!(integer("52.00"), Some(52));
        assert_eq!(integer("-3"), Some(-3));
        assert_eq!(integer("52.5"), None);
        assert_eq!(integer("52."), None);
        assert_eq!(integer("x"), None);
    }
}
