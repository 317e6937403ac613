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
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The plaintext message (push XML).
    pub msg: String,
    /// The key that worked; a reply should be encrypted with the same one.
    pub key_used: KeyUsed,
}

/// The plaintext carries tickets and authorization codes: `Debug` shows it with their values
/// masked ([`crate::redact::text`]).
impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("msg", &crate::redact::text(&self.msg))
            .field("key_used", &self.key_used)
            .finish()
    }
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
mod tests;
