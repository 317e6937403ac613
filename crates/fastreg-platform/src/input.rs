//! What every reader of client input shares with the OpenAPI document, so that the document
//! promises exactly what is accepted (issue 19: a schema-valid request is never refused, a
//! schema-violating one never accepted):
//!
//! - [`matches`]: a field's pattern is one string, declared in the document (`pattern`) and
//!   checked here with it, not a second hand-written rule.
//! - [`integral_floats_to_integers`] and [`integer`]: JSON has one kind of number and JSON
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

/// -2^63, `i64::MIN` as a float: also what an integer literal just below `i64::MIN` (which
/// serde_json reads as a float) rounds to, so it is not taken for an integer.
const I64_MIN: f64 = -9_223_372_036_854_775_808.0;
/// 2^63, the first float past `i64::MAX`.
const I64_END: f64 = 9_223_372_036_854_775_808.0;
/// 2^64, the first float past `u64::MAX` (and what a literal just past it rounds to).
const U64_END: f64 = 18_446_744_073_709_551_616.0;

/// Turns every number with a zero fraction strictly between -2^63 and 2^64 (`52.0`) into that
/// integer; returns whether it changed any. (An integer literal outside `i64`/`u64` is read by
/// serde_json as a float, rounded to -2^63 or 2^64 at the edges: those stay floats, and are
/// refused where an integer is asked for, as their literal is out of range.)
pub fn integral_floats_to_integers(v: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() != 0.0 || !(f > I64_MIN && f < U64_END) {
                return false;
            }
            // Exact: a float with no fraction in these ranges is one integer of the type.
            *v = if f < I64_END {
                Value::from(f as i64)
            } else {
                Value::from(f as u64)
            };
            true
        }
        Value::Array(a) => a
            .iter_mut()
            .fold(false, |changed, v| integral_floats_to_integers(v) || changed),
        Value::Object(m) => m
            .values_mut()
            .fold(false, |changed, v| integral_floats_to_integers(v) || changed),
        _ => false,
    }
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
        assert!(!matches("(", "anything"), "a broken pattern matches nothing");
    }

    #[test]
    fn integral_floats_become_integers_and_others_stay() {
        let mut v = serde_json::json!({"a": 52.0, "b": [1.0, 1.5], "c": -9.223372036854776e18,
                                       "d": 1e17, "e": 1.8446744073709552e19});
        assert!(integral_floats_to_integers(&mut v));
        assert_eq!(
            v,
            serde_json::json!({"a": 52, "b": [1, 1.5], "c": -9.223372036854776e18,
                               "d": 100_000_000_000_000_000_u64, "e": 1.8446744073709552e19})
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
