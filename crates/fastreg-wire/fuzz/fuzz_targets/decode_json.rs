//! Raw bytes into every JSON decoder of the wire crate: each request and response body, the
//! `{errcode, errmsg}` envelope, the errmsg suffix parser and the errcode table. Whatever
//! arrives, they return, never panic; what they read, written back, reads the same.
#![no_main]

use std::fmt::Debug;

use fastreg_wire::account::*;
use fastreg_wire::component::*;
use fastreg_wire::envelope::{ApiStatus, ErrMsg};
use fastreg_wire::ErrCode;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Decodes `data` as `T`; when that succeeds, writing it and reading it back gives it again.
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + Debug>(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(data) {
        let text = serde_json::to_string(&value).expect("what was read can be written");
        let again: T = serde_json::from_str(&text).expect("what was written reads");
        assert_eq!(again, value, "{text}");
    }
}

fuzz_target!(|data: &[u8]| {
    // Requests (what the platform reads).
    round_trip::<ComponentTokenRequest>(data);
    round_trip::<StartPushTicketRequest>(data);
    round_trip::<PreAuthCodeRequest>(data);
    round_trip::<QueryAuthRequest>(data);
    round_trip::<AuthorizerTokenRequest>(data);
    round_trip::<AuthorizerInfoRequest>(data);
    round_trip::<AuthorizerListRequest>(data);
    round_trip::<FastRegisterRequest>(data);
    round_trip::<BoolStyle>(data);
    // Responses (what the SDK reads), with their tolerant integers and booleans.
    round_trip::<ApiStatus>(data);
    round_trip::<ComponentTokenResponse>(data);
    round_trip::<PreAuthCodeResponse>(data);
    round_trip::<QueryAuthResponse>(data);
    round_trip::<AuthorizationInfo>(data);
    round_trip::<FuncInfo>(data);
    round_trip::<FuncscopeCategory>(data);
    round_trip::<AuthorizerTokenResponse>(data);
    round_trip::<AuthorizerInfoResponse>(data);
    round_trip::<AuthorizerInfo>(data);
    round_trip::<IdInfo>(data);
    round_trip::<MiniProgramInfo>(data);
    round_trip::<MiniProgramNetwork>(data);
    round_trip::<MiniProgramCategory>(data);
    round_trip::<AuthorizerAuthorization>(data);
    round_trip::<AuthorizerListResponse>(data);
    round_trip::<AuthorizerListItem>(data);
    round_trip::<WxampLinkGetResponse>(data);
    round_trip::<LinkedMiniPrograms>(data);
    round_trip::<LinkedMiniProgram>(data);
    round_trip::<AccountBasicInfoResponse>(data);
    round_trip::<WxVerifyInfo>(data);

    // fastregister's success reads back the same from either boolean style.
    if let Ok(r) = serde_json::from_slice::<FastRegisterResponse>(data) {
        for style in [BoolStyle::String, BoolStyle::Json] {
            let text = r.to_wire_string(style);
            let again: FastRegisterResponse = serde_json::from_str(&text).expect("own wire reads");
            assert_eq!(again, r, "{text}");
            let again: FastRegisterResponse =
                serde_json::from_value(r.to_wire(style)).expect("own value reads");
            assert_eq!(again, r);
        }
        let via_serialize = serde_json::to_string(&r).expect("serializes");
        let again: FastRegisterResponse = serde_json::from_str(&via_serialize).expect("reads");
        assert_eq!(again, r);
    }

    // The envelope of any reply: its code and its errmsg parts.
    if let Ok(status) = serde_json::from_slice::<ApiStatus>(data) {
        let code = status.code();
        assert_eq!(code.code(), status.errcode);
        assert_eq!(status.is_ok(), status.errcode == 0);
        let _ = (code.errmsg(), code.info(), code.retry(), code.to_string());
        let _ = status.parsed();
    }

    // The errmsg parser on any text: the text it keeps is where the message starts, and the
    // rid and hint it finds are in the message.
    if let Ok(msg) = std::str::from_utf8(data) {
        let m = ErrMsg::parse(msg);
        assert!(msg.starts_with(&m.text), "{msg:?} -> {m:?}");
        for part in [&m.rid, &m.hint].into_iter().flatten() {
            assert!(msg.contains(part.as_str()), "{msg:?} -> {m:?}");
        }
    }

    // Any number is an errcode, and comes back as itself.
    if let Some(bytes) = data.first_chunk::<8>() {
        let n = i64::from_le_bytes(*bytes);
        let code = ErrCode::from_code(n);
        assert_eq!(code.code(), n);
        let _ = (code.errmsg(), code.info(), code.retry());
    }
});
