//! Unit tests of [`super`]: test vectors and properties.

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
            CryptoError::BadPadding | CryptoError::Truncated | CryptoError::AppIdMismatch { .. }
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

#[test]
fn a_decrypted_push_prints_its_ticket_masked() {
    let d = Decrypted {
        msg: "<xml><AppId>wx1</AppId><ComponentVerifyTicket><![CDATA[SECRETTICKET]]></ComponentVerifyTicket></xml>".into(),
        key_used: KeyUsed::Current,
    };
    let shown = format!("{d:?}");
    assert!(!shown.contains("SECRETTICKET"), "{shown}");
    assert!(shown.contains("wx1"), "{shown}");
}
