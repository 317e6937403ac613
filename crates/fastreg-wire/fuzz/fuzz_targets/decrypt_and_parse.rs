//! The receiving path of a push: key + ciphertext into `decrypt`, then the plaintext into
//! `PushEvent::parse`. Never panics; what `encrypt` produces always decrypts back.
//!
//! Input layout: 32 key bytes, one mode byte, one appid-length byte (mod 33), the appid, then
//! the payload. Mode 0 passes the payload as the `Encrypt` string (exercises Base64 handling);
//! mode 1 Base64-encodes it first (reaches padding, length and appid checks); mode 2 encrypts
//! the payload as a message and checks the round trip.
#![no_main]

use base64::Engine as _;
use fastreg_wire::crypto::{self, AesKey};
use fastreg_wire::push::PushEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((key, rest)) = data.split_first_chunk::<32>() else {
        return;
    };
    let key = AesKey::from_bytes(*key);
    let [mode, appid_len, rest @ ..] = rest else {
        return;
    };
    let appid_len = usize::from(*appid_len % 33).min(rest.len());
    let (appid, payload) = rest.split_at(appid_len);
    let appid = String::from_utf8_lossy(appid);

    let plaintext = match mode % 3 {
        0 => match std::str::from_utf8(payload) {
            Ok(encrypt) => crypto::decrypt(&key, encrypt, &appid),
            Err(_) => return,
        },
        1 => {
            let encrypt = base64::engine::general_purpose::STANDARD.encode(payload);
            crypto::decrypt(&key, &encrypt, &appid)
        }
        _ => {
            let Ok(msg) = std::str::from_utf8(payload) else {
                return;
            };
            let encrypt = crypto::encrypt(&key, [0x5a; 16], msg, &appid);
            let back = crypto::decrypt(&key, &encrypt, &appid).expect("own ciphertext decrypts");
            assert_eq!(back, msg);
            Ok(back)
        }
    };
    if let Ok(xml) = plaintext {
        let _ = PushEvent::parse(&xml);
    }
});
