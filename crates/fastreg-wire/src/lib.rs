//! Wire types shared by the fastreg platform (the WeChat side) and the fastreg SDK (the
//! third-party platform side).
//!
//! Nothing here does I/O: it is the vocabulary both ends agree on, so that the server can never
//! emit a shape the client cannot read, and the client is tested against the shapes the server
//! really sends.
//!
//! # Layout
//! - [`errcode`]: THE table of WeChat errcodes: errmsg text, meaning, remedy, retryability.
//! - [`envelope`]: the `{errcode, errmsg}` envelope, rid/hint suffix parsing, tolerant booleans.
//! - [`component`]: component (third-party platform) token and authorisation endpoints.
//! - [`account`]: fastregister, wxamplinkget and getaccountbasicinfo.
//! - [`paths`]: the URL paths of every WeChat-compatible endpoint.
//! - [`crypto`]: WXBizMsgCrypt (AES key, encrypt/decrypt, msg_signature) as pure functions.
//! - [`push`]: push XML: the encrypted envelope and the typed authorisation events inside it.
//! - [`redact`]: masking credentials in any text that may quote a URL or a body.
#![deny(missing_docs)]

pub mod account;
pub mod component;
pub mod crypto;
pub mod envelope;
pub mod errcode;
pub mod options;
pub mod paths;
pub mod push;
pub mod redact;

pub use envelope::{ApiStatus, ErrMsg};
pub use errcode::ErrCode;
