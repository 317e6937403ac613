//! WXBizMsgCrypt, the "safe mode" encryption of every push a third-party platform receives
//! (spec §7, domain notes §2.9 and §4.6), as pure functions.
//!
//! Nothing here reads a clock, draws random numbers or does I/O: the 16 random bytes of a
//! plaintext and the timestamp/nonce of a signature are arguments, so the platform (which
//! encrypts pushes) and the SDK (which decrypts them) share one implementation, and the official
//! test vectors can be reproduced byte for byte.
//!
//! The scheme:
//! - the AES key is `base64(EncodingAESKey + "=")`, 43 characters giving 32 bytes. The decoding is
//!   lenient about non-zero trailing bits, because Tencent's own sample key
//!   (`abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG`) is not canonical Base64;
//! - plaintext = 16 random bytes + the message length as a big-endian u32 + message + appid,
//!   PKCS#7-padded to a multiple of **32** bytes (pad bytes 1..=32: a stock 16-byte unpadder
//!   rejects valid messages), encrypted with AES-256-CBC, IV = the first 16 key bytes, and sent
//!   as standard padded Base64;
//! - `msg_signature` = lowercase hex SHA-1 of the sorted concatenation of token, timestamp, nonce
//!   and the Base64 ciphertext.
//!
//! CBC carries no authentication: a modified ciphertext can decrypt to a different, well-formed
//! message. Integrity comes only from `msg_signature`, so a receiver must [`verify`] before it
//! [`decrypt`]s ([`open`] does both in that order); verifying first also denies an attacker the
//! padding oracle that distinct decryption errors would otherwise offer.

use std::fmt;
use std::str::FromStr;

use aes::Aes256;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine as _;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// Length of an EncodingAESKey as configured on the open platform.
pub const ENCODING_AES_KEY_LEN: usize = 43;

/// The block WeChat pads to (twice the AES block).
pub const PAD_BLOCK: usize = 32;

/// Length of the random prefix of every plaintext.
pub const RANDOM_LEN: usize = 16;

/// Standard alphabet, `=` padding required, non-zero trailing bits accepted: the decoder for
/// EncodingAESKeys only. Ciphertexts are decoded strictly, so that every change to an `Encrypt`
/// string changes the bytes it decodes to.
const LENIENT_KEY_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why a key, a ciphertext or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 Base64 characters decoding to 32 bytes.
    #[error("EncodingAESKey must be 43 Base64 characters decoding to 32 bytes")]
    BadKey,
    /// The `Encrypt` value is not canonical standard Base64.
    #[error("Encrypt is not valid Base64")]
    BadBase64,
    /// The ciphertext is empty or not a whole number of 16-byte AES blocks.
    #[error("ciphertext length {0} is not a positive multiple of 16 bytes")]
    BadLength(usize),
    /// The decrypted padding is not 1..=32 equal bytes (usually: the wrong key).
    #[error("bad padding after decryption (wrong EncodingAESKey?)")]
    BadPadding,
    /// `msg_signature` does not match token, timestamp, nonce and Encrypt.
    #[error("msg_signature does not match")]
    BadSignature,
    /// The plaintext ends in another appid than the expected (component) appid.
    #[error("decrypted message is for appid {found:?}, not the expected one")]
    AppIdMismatch {
        /// The appid found at the end of the plaintext (lossy UTF-8, at most 64 bytes shown).
        found: String,
    },
    /// The plaintext is shorter than its header or than its declared message length.
    #[error("decrypted plaintext is truncated: shorter than its header or its declared length")]
    Truncated,
    /// The message is not UTF-8.
    #[error("decrypted message is not UTF-8")]
    BadMessage,
}

/// A 32-byte AES key derived from an EncodingAESKey. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey([u8; 32]);

impl AesKey {
    /// Parses a 43-character EncodingAESKey: `base64(key + "=")`, accepting non-zero trailing
    /// bits as every official SDK does.
    pub fn from_encoding_aes_key(encoding_aes_key: &str) -> Result<AesKey, CryptoError> {
        if encoding_aes_key.len() != ENCODING_AES_KEY_LEN {
            return Err(CryptoError::BadKey);
        }
        let mut padded = String::with_capacity(ENCODING_AES_KEY_LEN + 1);
        padded.push_str(encoding_aes_key);
        padded.push('=');
        let bytes = LENIENT_KEY_B64
            .decode(padded)
            .map_err(|_| CryptoError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(AesKey(key))
    }

    /// A key from its raw 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> AesKey {
        AesKey(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The canonical 43-character EncodingAESKey of this key. For a non-canonical input
    /// (Tencent's sample key) this differs from the input in its last character.
    pub fn to_encoding_aes_key(&self) -> String {
        let mut s = STANDARD.encode(self.0);
        s.truncate(ENCODING_AES_KEY_LEN);
        s
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

impl FromStr for AesKey {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AesKey::from_encoding_aes_key(s)
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

/// Encrypts `msg` for `appid` and returns the Base64 `Encrypt` value.
///
/// `random16` is the random prefix; the caller draws it (it keeps this function pure and lets
/// tests reproduce the official vectors).
///
/// # Panics
/// If `msg` is longer than `u32::MAX` bytes, which the length field cannot express.
pub fn encrypt(key: &AesKey, random16: [u8; RANDOM_LEN], msg: &str, appid: &str) -> String {
    let msg_len = u32::try_from(msg.len()).expect("a push message is shorter than 4 GiB");
    let body_len = RANDOM_LEN + 4 + msg.len() + appid.len();
    let pad = PAD_BLOCK - body_len % PAD_BLOCK; // 1..=32
    let mut buf = Vec::with_capacity(body_len + pad);
    buf.extend_from_slice(&random16);
    buf.extend_from_slice(&msg_len.to_be_bytes());
    buf.extend_from_slice(msg.as_bytes());
    buf.extend_from_slice(appid.as_bytes());
    // `pad` is at most 32, so the cast is lossless.
    buf.resize(body_len + pad, pad as u8);
    let len = buf.len();
    let ct = cbc::Encryptor::<Aes256>::new(key.as_bytes().into(), (&key.iv()).into())
        .encrypt_padded::<NoPadding>(&mut buf, len)
        .expect("the buffer is a whole number of blocks");
    STANDARD.encode(ct)
}

/// Decrypts an `Encrypt` value and returns the message, checking the padding, the length field
/// and that the trailing appid is `expected_appid`. Never panics, whatever the input.
///
/// This does not authenticate the message: call [`verify`] first (or use [`open`]).
pub fn decrypt(
    key: &AesKey,
    encrypt_b64: &str,
    expected_appid: &str,
) -> Result<String, CryptoError> {
    let mut buf = STANDARD
        .decode(encrypt_b64.as_bytes())
        .map_err(|_| CryptoError::BadBase64)?;
    if buf.is_empty() || buf.len() % 16 != 0 {
        return Err(CryptoError::BadLength(buf.len()));
    }
    let len = buf.len();
    let plain = cbc::Decryptor::<Aes256>::new(key.as_bytes().into(), (&key.iv()).into())
        .decrypt_padded::<NoPadding>(&mut buf)
        .map_err(|_| CryptoError::BadLength(len))?;

    let pad = usize::from(*plain.last().ok_or(CryptoError::BadPadding)?);
    if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
        return Err(CryptoError::BadPadding);
    }
    let (content, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(CryptoError::BadPadding);
    }

    let header = RANDOM_LEN + 4;
    let len_bytes: [u8; 4] = content
        .get(RANDOM_LEN..header)
        .and_then(|s| s.try_into().ok())
        .ok_or(CryptoError::Truncated)?;
    let msg_len =
        usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| CryptoError::Truncated)?;
    let msg_end = header.checked_add(msg_len).ok_or(CryptoError::Truncated)?;
    let msg = content.get(header..msg_end).ok_or(CryptoError::Truncated)?;
    let appid = content.get(msg_end..).ok_or(CryptoError::Truncated)?;

    if !bool::from(appid.ct_eq(expected_appid.as_bytes())) {
        let shown = &appid[..appid.len().min(64)];
        return Err(CryptoError::AppIdMismatch {
            found: String::from_utf8_lossy(shown).into_owned(),
        });
    }
    String::from_utf8(msg.to_vec()).map_err(|_| CryptoError::BadMessage)
}

/// `msg_signature`: lowercase hex SHA-1 of the lexicographically sorted concatenation of the
/// four strings.
pub fn sign(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(40);
    for byte in digest.iter() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Checks `msg_signature` in constant time. The comparison is exact: WeChat sends lowercase
/// hex, and an uppercase signature is refused like any other mismatch.
pub fn verify(
    token: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
    msg_signature: &str,
) -> Result<(), CryptoError> {
    let expected = sign(token, timestamp, nonce, encrypt);
    if bool::from(expected.as_bytes().ct_eq(msg_signature.as_bytes())) {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

/// [`verify`] then [`decrypt`]: what a receiver does with a push.
pub fn open(
    key: &AesKey,
    token: &str,
    timestamp: &str,
    nonce: &str,
    encrypt_b64: &str,
    msg_signature: &str,
    expected_appid: &str,
) -> Result<String, CryptoError> {
    verify(token, timestamp, nonce, encrypt_b64, msg_signature)?;
    decrypt(key, encrypt_b64, expected_appid)
}

/// Which EncodingAESKey decrypted a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsed {
    /// The key currently configured.
    Current,
    /// The key configured before it (kept while WeChat may still use it).
    Previous,
}

/// A message decrypted by [`decrypt_with_fallback`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The plaintext message (push XML).
    pub msg: String,
    /// The key that worked; a reply should be encrypted with the same one.
    pub key_used: KeyUsed,
}

/// Decrypts with the current key and, if that fails, with the previous one (an EncodingAESKey
/// change is not atomic on WeChat's side). On double failure the current key's error is
/// returned.
pub fn decrypt_with_fallback(
    current: &AesKey,
    previous: Option<&AesKey>,
    encrypt_b64: &str,
    expected_appid: &str,
) -> Result<Decrypted, CryptoError> {
    match decrypt(current, encrypt_b64, expected_appid) {
        Ok(msg) => Ok(Decrypted {
            msg,
            key_used: KeyUsed::Current,
        }),
        Err(err) => match previous {
            Some(prev) => decrypt(prev, encrypt_b64, expected_appid)
                .map(|msg| Decrypted {
                    msg,
                    key_used: KeyUsed::Previous,
                })
                .map_err(|_| err),
            None => Err(err),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Test vector A (official, domain notes §2.9).
    const A_TOKEN: &str = "AAAAA";
    const A_APPID: &str = "wx134c8103faa5a59e";
    const A_TIMESTAMP: &str = "1715943329";
    const A_NONCE: &str = "1590219412";
    const A_ENCRYPT: &str = "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==";
    const A_SIGNATURE: &str = "6c12a4205838198b8fa631b3220723bb07f1015c";
    const A_REPLY_MSG: &str = "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>";
    const A_REPLY_ENCRYPT: &str = "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7";
    const A_REPLY_TIMESTAMP: &str = "1713424427";
    const A_REPLY_NONCE: &str = "415670741";
    const A_REPLY_SIGNATURE: &str = "03e0812039325c2712ef5f0f980fd14c70d6e307";

    // Test vector B (classic Tencent sample).
    const B_TOKEN: &str = "spamtest";
    const B_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const B_APPID: &str = "wx2c2769f8efd9abc2";
    const B_TIMESTAMP: &str = "1409735669";
    const B_NONCE: &str = "1320562132";
    const B_SIGNATURE: &str = "5d197aaffba7e9b25a30732f161a50dee96bd5fa";
    /// Not in the domain notes: the `Encrypt` of Tencent's sample `from_xml`, as published
    /// identically in the official Python sample and its ports (e.g. the wxbizmsgcrypt-node
    /// README the notes cite).
    const B_ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";

    fn key_a() -> AesKey {
        AesKey::from_encoding_aes_key(&"A".repeat(43)).unwrap()
    }

    /// The raw plaintext of a ciphertext, padding included, for inspecting the layout.
    fn raw_plaintext(key: &AesKey, encrypt_b64: &str) -> Vec<u8> {
        let mut buf = STANDARD.decode(encrypt_b64).unwrap();
        cbc::Decryptor::<Aes256>::new(key.as_bytes().into(), (&key.iv()).into())
            .decrypt_padded::<NoPadding>(&mut buf)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn vector_a_inbound_decrypts_to_a_debug_demo_event() {
        let key = key_a();
        let raw = raw_plaintext(&key, A_ENCRYPT);
        assert_eq!(raw.len(), 352);
        assert_eq!(
            *raw.last().unwrap(),
            22,
            "pad byte 22: more than one AES block"
        );
        assert_eq!(u32::from_be_bytes(raw[16..20].try_into().unwrap()), 292);
        assert_eq!(
            &raw[..16],
            b"1205899eaf019bbd",
            "the random prefix is 16 ASCII chars"
        );

        let msg = decrypt(&key, A_ENCRYPT, A_APPID).unwrap();
        assert_eq!(msg.len(), 292);
        assert_eq!(
            msg,
            "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n\
             <FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n\
             <CreateTime>1715943329</CreateTime>\n\
             <MsgType><![CDATA[event]]></MsgType>\n\
             <Event><![CDATA[debug_demo]]></Event>\n\
             <debug_str><![CDATA[hello world]]></debug_str>\n\
             </xml>"
        );
    }

    #[test]
    fn vector_a_signatures_match() {
        assert_eq!(sign(A_TOKEN, A_TIMESTAMP, A_NONCE, A_ENCRYPT), A_SIGNATURE);
        verify(A_TOKEN, A_TIMESTAMP, A_NONCE, A_ENCRYPT, A_SIGNATURE).unwrap();
        assert_eq!(
            sign(A_TOKEN, A_REPLY_TIMESTAMP, A_REPLY_NONCE, A_REPLY_ENCRYPT),
            A_REPLY_SIGNATURE
        );
        verify(
            A_TOKEN,
            A_REPLY_TIMESTAMP,
            A_REPLY_NONCE,
            A_REPLY_ENCRYPT,
            A_REPLY_SIGNATURE,
        )
        .unwrap();
        let msg = open(
            &key_a(),
            A_TOKEN,
            A_TIMESTAMP,
            A_NONCE,
            A_ENCRYPT,
            A_SIGNATURE,
            A_APPID,
        )
        .unwrap();
        assert!(msg.contains("debug_demo"));
    }

    #[test]
    fn vector_a_reply_is_reproduced_byte_for_byte_from_its_ascii_random() {
        let key = key_a();
        // The printed random is the 16 ASCII characters themselves, not hex of 8 bytes.
        let random: [u8; 16] = *b"999951349e8ee746";
        assert_eq!(&raw_plaintext(&key, A_REPLY_ENCRYPT)[..16], &random);
        assert_eq!(A_REPLY_MSG.len(), 52);
        let ct = encrypt(&key, random, A_REPLY_MSG, A_APPID);
        assert_eq!(ct, A_REPLY_ENCRYPT);
        assert_eq!(STANDARD.decode(&ct).unwrap().len(), 96);
        assert_eq!(decrypt(&key, &ct, A_APPID).unwrap(), A_REPLY_MSG);
    }

    #[test]
    fn vector_b_non_canonical_key_decodes_leniently() {
        let key = AesKey::from_encoding_aes_key(B_KEY).unwrap();
        assert_eq!(key.as_bytes().len(), 32);
        // Re-encoding shows the non-zero trailing bits that a strict decoder rejects.
        assert_eq!(
            key.to_encoding_aes_key(),
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFE"
        );
        assert!(STANDARD.decode(format!("{B_KEY}=")).is_err());
        assert_eq!(
            AesKey::from_encoding_aes_key(&key.to_encoding_aes_key()).unwrap(),
            key
        );
    }

    #[test]
    fn vector_b_signature_matches_its_published_ciphertext() {
        assert_eq!(sign(B_TOKEN, B_TIMESTAMP, B_NONCE, B_ENCRYPT), B_SIGNATURE);
        verify(B_TOKEN, B_TIMESTAMP, B_NONCE, B_ENCRYPT, B_SIGNATURE).unwrap();
    }

    #[test]
    fn vector_b_decrypts_to_a_text_message_under_the_non_canonical_key() {
        let key = AesKey::from_encoding_aes_key(B_KEY).unwrap();
        let raw = raw_plaintext(&key, B_ENCRYPT);
        assert_eq!(*raw.last().unwrap(), 2);
        assert_eq!(&raw[..16], b"89465c840c5f116f");
        assert_eq!(u32::from_be_bytes(raw[16..20].try_into().unwrap()), 280);
        let msg = open(
            &key,
            B_TOKEN,
            B_TIMESTAMP,
            B_NONCE,
            B_ENCRYPT,
            B_SIGNATURE,
            B_APPID,
        )
        .unwrap();
        assert_eq!(msg.len(), 280);
        assert!(msg.contains("<MsgType><![CDATA[text]]></MsgType>"), "{msg}");
        // Re-encrypting with the same random reproduces the published ciphertext.
        assert_eq!(
            encrypt(&key, *b"89465c840c5f116f", &msg, B_APPID),
            B_ENCRYPT
        );
    }

    #[test]
    fn vector_b_key_round_trips_a_message() {
        let key = AesKey::from_encoding_aes_key(B_KEY).unwrap();
        let msg =
            "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName></xml>";
        let ct = encrypt(&key, *b"89465c840c5f116f", msg, B_APPID);
        assert_eq!(decrypt(&key, &ct, B_APPID).unwrap(), msg);
    }

    #[test]
    fn bad_keys_are_refused() {
        for bad in [
            "",
            "short",
            &"A".repeat(42),
            &"A".repeat(44),
            &format!("{}!", "A".repeat(42)),
            &format!("{}=", "A".repeat(42)),
            &format!("{}é", "A".repeat(41)),
        ] {
            assert_eq!(
                AesKey::from_encoding_aes_key(bad),
                Err(CryptoError::BadKey),
                "{bad:?}"
            );
        }
        assert_eq!("x".parse::<AesKey>(), Err(CryptoError::BadKey));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = key_a();
        let shown = format!("{key:?}");
        assert_eq!(shown, "AesKey(<redacted>)");
        assert!(!shown.contains('A'.to_string().repeat(5).as_str()));
    }

    #[test]
    fn the_wrong_appid_is_refused_with_the_appid_found() {
        let err = decrypt(&key_a(), A_ENCRYPT, "wx0000000000000000").unwrap_err();
        assert_eq!(
            err,
            CryptoError::AppIdMismatch {
                found: A_APPID.to_string()
            }
        );
        assert!(err.to_string().contains(A_APPID));
    }

    #[test]
    fn the_wrong_key_is_refused() {
        let other = AesKey::from_encoding_aes_key(B_KEY).unwrap();
        let err = decrypt(&other, A_ENCRYPT, A_APPID).unwrap_err();
        assert!(
            matches!(
                err,
                CryptoError::BadPadding
                    | CryptoError::Truncated
                    | CryptoError::AppIdMismatch { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn malformed_ciphertexts_get_precise_errors() {
        let key = key_a();
        assert_eq!(
            decrypt(&key, "not base64!", A_APPID),
            Err(CryptoError::BadBase64)
        );
        assert_eq!(decrypt(&key, "", A_APPID), Err(CryptoError::BadLength(0)));
        assert_eq!(
            decrypt(&key, "AAAA", A_APPID),
            Err(CryptoError::BadLength(3))
        );
        // A canonical-only decoder: the same bytes with non-zero trailing bits are refused.
        assert_eq!(decrypt(&key, "AB==", A_APPID), Err(CryptoError::BadBase64));

        let enc = |plain: &[u8]| {
            let mut buf = plain.to_vec();
            let len = buf.len();
            let ct = cbc::Encryptor::<Aes256>::new(key.as_bytes().into(), (&key.iv()).into())
                .encrypt_padded::<NoPadding>(&mut buf, len)
                .unwrap()
                .to_vec();
            STANDARD.encode(ct)
        };
        // Pad byte 0, pad byte 33, unequal pad bytes.
        assert_eq!(
            decrypt(&key, &enc(&[0u8; 32]), A_APPID),
            Err(CryptoError::BadPadding)
        );
        assert_eq!(
            decrypt(&key, &enc(&[33u8; 64]), A_APPID),
            Err(CryptoError::BadPadding)
        );
        let mut unequal = [3u8; 32];
        unequal[29] = 4;
        assert_eq!(
            decrypt(&key, &enc(&unequal), A_APPID),
            Err(CryptoError::BadPadding)
        );
        // Padding fine but no room for the header.
        assert_eq!(
            decrypt(&key, &enc(&[16u8; 32]), A_APPID),
            Err(CryptoError::Truncated)
        );
        // A length field pointing past the end, including u32::MAX.
        for declared in [13u32, u32::MAX] {
            let mut plain = vec![0u8; 16];
            plain.extend_from_slice(&declared.to_be_bytes());
            plain.extend_from_slice(b"hello");
            let pad = 32 - plain.len() % 32;
            plain.resize(plain.len() + pad, pad as u8);
            assert_eq!(
                decrypt(&key, &enc(&plain), A_APPID),
                Err(CryptoError::Truncated)
            );
        }
        // Not UTF-8.
        let mut plain = vec![0u8; 16];
        plain.extend_from_slice(&2u32.to_be_bytes());
        plain.extend_from_slice(&[0xff, 0xfe]);
        plain.extend_from_slice(A_APPID.as_bytes());
        let pad = 32 - plain.len() % 32;
        plain.resize(plain.len() + pad, pad as u8);
        assert_eq!(
            decrypt(&key, &enc(&plain), A_APPID),
            Err(CryptoError::BadMessage)
        );
    }

    #[test]
    fn the_previous_key_is_tried_when_the_current_one_fails() {
        let old = key_a();
        let new = AesKey::from_encoding_aes_key(B_KEY).unwrap();
        let on_old = encrypt(&old, [7; 16], "<xml/>", A_APPID);
        let on_new = encrypt(&new, [7; 16], "<xml/>", A_APPID);

        let got = decrypt_with_fallback(&new, Some(&old), &on_new, A_APPID).unwrap();
        assert_eq!(got.key_used, KeyUsed::Current);
        let got = decrypt_with_fallback(&new, Some(&old), &on_old, A_APPID).unwrap();
        assert_eq!(got.key_used, KeyUsed::Previous);
        assert_eq!(got.msg, "<xml/>");

        let current_err = decrypt(&new, &on_old, A_APPID).unwrap_err();
        assert_eq!(
            decrypt_with_fallback(&new, None, &on_old, A_APPID),
            Err(current_err.clone())
        );
        let stranger = AesKey::from_bytes([9; 32]);
        assert_eq!(
            decrypt_with_fallback(&new, Some(&stranger), &on_old, A_APPID),
            Err(current_err)
        );
    }

    #[test]
    fn padding_covers_every_length_from_1_to_32() {
        let key = key_a();
        let mut seen = [false; 33];
        for n in 0..64 {
            let msg = "x".repeat(n);
            let ct = encrypt(&key, [0; 16], &msg, "a");
            let raw = raw_plaintext(&key, &ct);
            assert_eq!(raw.len() % 32, 0);
            seen[usize::from(*raw.last().unwrap())] = true;
            assert_eq!(decrypt(&key, &ct, "a").unwrap(), msg);
        }
        assert!(
            seen[1..].iter().all(|&s| s),
            "every pad length 1..=32 occurs"
        );
    }

    fn key_strategy() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9]{43}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_message_round_trips_under_any_key_and_appid(
            encoding_key in key_strategy(),
            random in any::<[u8; 16]>(),
            msg in any::<String>(),
            appid in "[a-zA-Z0-9_]{0,40}",
        ) {
            let key = AesKey::from_encoding_aes_key(&encoding_key).unwrap();
            let ct = encrypt(&key, random, &msg, &appid);
            prop_assert_eq!(decrypt(&key, &ct, &appid).unwrap(), msg);
        }

        #[test]
        fn any_tampered_ciphertext_is_refused_by_the_signature_and_never_panics(
            encoding_key in key_strategy(),
            msg in ".{0,80}",
            pos in any::<prop::sample::Index>(),
            replacement in prop::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=!".to_vec()
            ),
        ) {
            let key = AesKey::from_encoding_aes_key(&encoding_key).unwrap();
            let ct = encrypt(&key, [1; 16], &msg, A_APPID);
            let sig = sign(A_TOKEN, A_TIMESTAMP, A_NONCE, &ct);
            let mut bytes = ct.clone().into_bytes();
            let i = pos.index(bytes.len());
            prop_assume!(bytes[i] != replacement);
            bytes[i] = replacement;
            let tampered = String::from_utf8(bytes).unwrap();

            prop_assert_eq!(
                verify(A_TOKEN, A_TIMESTAMP, A_NONCE, &tampered, &sig),
                Err(CryptoError::BadSignature)
            );
            prop_assert_eq!(
                open(&key, A_TOKEN, A_TIMESTAMP, A_NONCE, &tampered, &sig, A_APPID),
                Err(CryptoError::BadSignature)
            );
            // Without the signature CBC cannot promise an error, but it must never return the
            // original message for a changed ciphertext, nor panic.
            if let Ok(other) = decrypt(&key, &tampered, A_APPID) {
                prop_assert_ne!(other, msg);
            }
        }

        #[test]
        fn any_tampered_signature_is_refused(
            pos in 0usize..40,
            replacement in prop::sample::select(b"0123456789abcdefABCDEF".to_vec()),
        ) {
            let mut sig = A_SIGNATURE.as_bytes().to_vec();
            prop_assume!(sig[pos] != replacement);
            sig[pos] = replacement;
            let sig = String::from_utf8(sig).unwrap();
            prop_assert_eq!(
                verify(A_TOKEN, A_TIMESTAMP, A_NONCE, A_ENCRYPT, &sig),
                Err(CryptoError::BadSignature)
            );
        }

        #[test]
        fn truncated_or_extended_signatures_are_refused(cut in 0usize..40, extra in "[0-9a-f]{1,4}") {
            prop_assert!(verify(A_TOKEN, A_TIMESTAMP, A_NONCE, A_ENCRYPT, &A_SIGNATURE[..cut]).is_err());
            let longer = format!("{A_SIGNATURE}{extra}");
            prop_assert!(verify(A_TOKEN, A_TIMESTAMP, A_NONCE, A_ENCRYPT, &longer).is_err());
        }

        #[test]
        fn decrypting_arbitrary_strings_never_panics(input in any::<String>()) {
            let _ = decrypt(&key_a(), &input, A_APPID);
        }

        #[test]
        fn decrypting_arbitrary_block_aligned_bytes_never_panics(
            blocks in prop::collection::vec(any::<[u8; 16]>(), 1..12),
            encoding_key in key_strategy(),
        ) {
            let key = AesKey::from_encoding_aes_key(&encoding_key).unwrap();
            let ct = STANDARD.encode(blocks.concat());
            let _ = decrypt(&key, &ct, A_APPID);
        }

        #[test]
        fn arbitrary_key_strings_never_panic(input in any::<String>()) {
            let _ = AesKey::from_encoding_aes_key(&input);
        }
    }
}
