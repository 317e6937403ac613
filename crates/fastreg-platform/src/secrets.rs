//! Fresh identifiers and credentials, all from the operating system's CSPRNG (through
//! `rand`'s `ThreadRng`, a ChaCha12 generator seeded and periodically reseeded from the OS),
//! and the hashing and constant-time comparison of secrets.

use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `n` random characters of `[A-Za-z0-9]` (5.95 bits each).
pub fn alnum(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect()
}

/// A new world id: 16 random characters of `[a-z0-9]` (≈ 83 bits).
pub fn world_id() -> String {
    const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| LOWER[rng.random_range(0..LOWER.len())] as char)
        .collect()
}

/// `n` random bytes as lowercase hex.
pub fn hex_bytes(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A new appid: `wx` + 16 lowercase hex, time-ordered like a UUIDv7: the first 9 digits are
/// the system clock's milliseconds (modulo 2^36, about 795 days), the last 7 are random (28
/// bits; uniqueness is enforced by storage, and a collision is drawn again).
///
/// Appids are public identifiers, not secrets. Drawn in order, they sort in order, so each of
/// the B-trees a Mini Program's appid keys (the appids, the Mini Program, its authorisation
/// by both keys, its registration) grows at its right edge: a batch of successes dirties a few
/// pages there instead of one random leaf per success and tree, which the write-ahead log
/// (SQLite's and PostgreSQL's) would each write out whole (BENCHMARKS.md).
pub fn appid() -> String {
    appid_at(clock_ms(), rand::rng().next_u32())
}

/// The appid of the millisecond `ms` and the random word `random` (its low 28 bits).
fn appid_at(ms: u64, random: u32) -> String {
    format!("wx{:09x}{:07x}", ms & 0xf_ffff_ffff, random & 0x0fff_ffff)
}

/// A new original id: `gh_` + 12 lowercase hex.
pub fn user_name() -> String {
    format!("gh_{}", hex_bytes(6))
}

/// The digits of base 62 in the order bytes sort, so that numbers of one width sort as their
/// values.
const ORDERED_DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Characters at the start of an access token (after the WeChat-style prefix of a code) that
/// tell the time it was drawn, and start its storage key ([`storage_key`]).
const CLOCK: usize = 8;

/// The system clock in milliseconds since the Unix epoch. As `clock::system_now_ms`, which a
/// leaf may not import (tests/api/layers.rs).
fn clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A new access token: 86 alphanumerics. The first 8 are the system clock's milliseconds in
/// base 62 (62^8 ms is about 6,900 years), so that tokens drawn later sort later; the other 78
/// are random (≈ 464 bits), which is what makes the token unguessable.
pub fn access_token() -> String {
    clocked(clock_ms(), &alnum(86 - CLOCK))
}

/// The millisecond `ms` in 8 characters of base 62, then the random characters `random`.
fn clocked(mut ms: u64, random: &str) -> String {
    let mut clock = [b'0'; CLOCK];
    for digit in clock.iter_mut().rev() {
        *digit = ORDERED_DIGITS[(ms % 62) as usize];
        ms /= 62;
    }
    let mut out = String::with_capacity(CLOCK + random.len());
    out.extend(clock.iter().map(|&d| d as char));
    out.push_str(random);
    out
}

/// The storage key of an access token or a code (what storage and the view find it by): its
/// first 8 characters after its WeChat-style prefix (up to the last `@`; an access token has
/// none), then the SHA-256 of the whole credential, hex. Storage never holds a usable
/// credential: those characters are the clock of its issue, the rest of it is only hashed. And
/// the keys of credentials issued one after another sort one after another, so their tables'
/// primary keys grow at the right edge instead of taking a random leaf page per credential
/// (BENCHMARKS.md).
pub fn storage_key(secret: &str) -> String {
    let body = secret.rfind('@').map_or(secret, |at| &secret[at + 1..]);
    let clock = body.get(..CLOCK).unwrap_or("");
    let mut key = String::with_capacity(clock.len() + 64);
    key.push_str(clock);
    push_hash(secret, &mut key);
    key
}

/// A new refresh token, WeChat-style prefixed (≈ 256 bits after the prefix).
pub fn refresh_token() -> String {
    format!("refreshtoken@@@{}", alnum(43))
}

/// A new component_verify_ticket (≈ 256 bits after the prefix).
pub fn verify_ticket() -> String {
    format!("ticket@@@{}", alnum(43))
}

/// A new pre_auth_code: the prefix, then 43 alphanumerics, the clock's 8 (as an access
/// token's) and 35 random (≈ 208 bits).
pub fn pre_auth_code() -> String {
    format!("preauthcode@@@{}", clocked(clock_ms(), &alnum(43 - CLOCK)))
}

/// A new auth_code / authorization_code: the prefix, then 43 alphanumerics, the clock's 8 (as
/// an access token's) and 35 random (≈ 208 bits).
pub fn auth_code() -> String {
    format!(
        "queryauthcode@@@{}",
        clocked(clock_ms(), &alnum(43 - CLOCK))
    )
}

/// A new fastregister ticket: 32 lowercase hex (128 bits), the documented shape.
pub fn fastregister_ticket() -> String {
    hex_bytes(16)
}

/// A new EncodingAESKey: 43 alphanumerics.
pub fn encoding_aes_key() -> String {
    alnum(43)
}

/// A new AppSecret: 32 lowercase hex, as WeChat's.
pub fn appsecret() -> String {
    hex_bytes(16)
}

/// SHA-256, hex: what a world's admin token is stored as, and the end of every
/// [`storage_key`] (lookups by it do not leak the credential through timing). A code issued by
/// a fastreg that stored codes by this alone is still found by it (`service::find_code`).
pub fn hash(secret: &str) -> String {
    let mut out = String::with_capacity(64);
    push_hash(secret, &mut out);
    out
}

/// Appends [`hash`]`(secret)` to `out`: [`storage_key`], which runs for every
/// token-authenticated call, builds its key in one allocation.
fn push_hash(secret: &str, out: &mut String) {
    // Into a buffer rather than `hex::encode`, which builds the string a char at a time.
    let mut hex = [0u8; 64];
    let digest = Sha256::digest(secret.as_bytes());
    // Hex digits are ASCII, so `from_utf8` cannot fail; it only checks, where `from_utf8_lossy`
    // walks the text in chunks (a percent of a refusal's instructions, under callgrind).
    match hex::encode_to_slice(digest, &mut hex).map(|()| std::str::from_utf8(&hex)) {
        Ok(Ok(text)) => out.push_str(text),
        _ => out.push_str(&hex::encode(digest)),
    }
}

/// Compares two secrets in time independent of where they differ.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A token binding a form to what the page showed: `{issued_at}.{HMAC-SHA256 hex}` over the
/// purpose, the issue time and the name/value pairs. A confirmation whose parameters differ
/// from the rendered page's, or that comes from a page the server never rendered (a forged
/// cross-site form), does not verify.
pub fn form_token(
    secret: &[u8],
    purpose: &str,
    pairs: &[(&str, String)],
    issued_at: i64,
) -> String {
    format!(
        "{issued_at}.{}",
        form_mac(secret, purpose, pairs, issued_at)
    )
}

fn form_mac(secret: &[u8], purpose: &str, pairs: &[(&str, String)], issued_at: i64) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(purpose.as_bytes());
    mac.update(&issued_at.to_be_bytes());
    for (k, v) in pairs {
        // Length-prefixed, so no two different pair lists hash alike.
        for part in [k.as_bytes(), v.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a [`form_token`]: same purpose and pairs, issued at most `max_age` seconds before
/// `now`.
pub fn verify_form_token(
    secret: &[u8],
    purpose: &str,
    pairs: &[(&str, String)],
    token: &str,
    now: i64,
    max_age: i64,
) -> bool {
    let Some((at, mac)) = token.split_once('.') else {
        return false;
    };
    let Ok(issued_at) = at.parse::<i64>() else {
        return false;
    };
    (0..=max_age).contains(&(now - issued_at))
        && ct_eq(mac, &form_mac(secret, purpose, pairs, issued_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identifiers_have_the_documented_shapes() {
        let a = appid();
        assert_eq!(a.len(), 18);
        assert!(
            a.starts_with("wx")
                && a[2..]
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let g = user_name();
        assert_eq!(g.len(), 15);
        assert!(g.starts_with("gh_"));
        let t = fastregister_ticket();
        assert_eq!(t.len(), 32);
        assert!(t.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_eq!(encoding_aes_key().len(), 43);
    }

    #[test]
    fn appids_drawn_later_sort_later_and_keep_their_shape_at_the_clocks_wrap() {
        let (a, b) = (appid_at(1_000, u32::MAX), appid_at(1_001, 0));
        assert!(a < b, "{a} then {b}");
        assert_eq!(a, "wx0000003e8fffffff");
        // Past 2^36 ms the clock's digits start over; the shape stays.
        assert_eq!(appid_at(1 << 36, 0x1234_5678), "wx0000000002345678");
    }

    #[test]
    fn access_tokens_and_codes_drawn_later_sort_later_and_their_keys_too() {
        let random = "r".repeat(78);
        let (a, b) = (clocked(61, &random), clocked(62, &random));
        assert_eq!(&a[..8], "0000000z");
        assert_eq!(&b[..8], "00000010");
        assert!(a < b && storage_key(&a) < storage_key(&b));
        let t = access_token();
        assert_eq!(t.len(), 86);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
        // The key holds the clock and the hash of the whole token, never the random part.
        let key = storage_key(&t);
        assert_eq!(key, format!("{}{}", &t[..8], hash(&t)));
        assert!(!key.contains(&t[8..16]));
        // A code's clock follows its prefix.
        let (x, y) = (
            format!("queryauthcode@@@{}", clocked(61, "r")),
            format!("queryauthcode@@@{}", clocked(62, "r")),
        );
        assert_eq!(storage_key(&x), format!("0000000z{}", hash(&x)));
        assert!(storage_key(&x) < storage_key(&y));
        let code = auth_code();
        assert_eq!(storage_key(&code)[..8], code[16..24]);
        // Any string has a key: a short one or one cut inside a character is hashed whole.
        assert_eq!(storage_key("short"), hash("short"));
        assert_eq!(storage_key("a@@@short"), hash("a@@@short"));
        assert_eq!(storage_key("令牌令牌令牌"), hash("令牌令牌令牌"));
    }

    #[test]
    fn a_form_token_verifies_only_for_the_same_page_and_in_time() {
        let pairs = vec![
            ("appid", "wx1".to_string()),
            ("redirect_uri", "https://a/b".to_string()),
        ];
        let t = form_token(b"k", "fastregisterauth", &pairs, 1000);
        assert!(verify_form_token(
            b"k",
            "fastregisterauth",
            &pairs,
            &t,
            1100,
            1800
        ));
        assert!(
            !verify_form_token(b"k", "fastregisterauth", &pairs, &t, 3000, 1800),
            "too old"
        );
        assert!(!verify_form_token(
            b"other",
            "fastregisterauth",
            &pairs,
            &t,
            1100,
            1800
        ));
        assert!(!verify_form_token(
            b"k",
            "componentloginpage",
            &pairs,
            &t,
            1100,
            1800
        ));
        let changed = vec![
            ("appid", "wx2".to_string()),
            ("redirect_uri", "https://a/b".to_string()),
        ];
        assert!(!verify_form_token(
            b"k",
            "fastregisterauth",
            &changed,
            &t,
            1100,
            1800
        ));
        assert!(!verify_form_token(
            b"k",
            "fastregisterauth",
            &pairs,
            "garbage",
            1100,
            1800
        ));
    }

    #[test]
    fn secrets_compare_equal_only_when_identical() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "abcd"));
        assert!(!ct_eq("", "a"));
    }
}
