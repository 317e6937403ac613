//! # fastreg-client
//!
//! A typed async client for WeChat's "register a Mini Program by reusing an Official
//! Account's entity" flow (`fastregister`, permission set 27), for third-party platforms
//! (components). It works against the real WeChat (the default base URL) and against a
//! fastreg platform (any base URL).
//!
//! What it gets right where other SDKs lose registrations or tokens:
//! - **fastregister is never repeated automatically**, has a long timeout, and an ambiguous
//!   outcome is reconciled into Registered / NotRegistered / Unknown ([`FastRegisterOutcome`]);
//!   on success the new Mini Program's refresh token is persisted before the call returns.
//! - **Tokens refresh once** however many tasks and instances ask: cached until expiry minus a
//!   margin, single-flight within a process, a lease in the shared store across processes, and
//!   compare-and-expire when WeChat rejects a token (then the call is repeated once).
//! - **Refresh tokens are never lost**: saved whenever they change, in a durable store if you
//!   want ([`ClientBuilder::refresh_token_store`]), and recovered from
//!   `api_get_authorizer_list` when missing.
//! - **Errors are typed**: [`Error::Api`] carries an [`ErrCode`] with its meaning, remedy and
//!   retryability, apart from transport, timeout and decode errors.
//!
//! # Example
//! ```no_run
//! # async fn run() -> Result<(), fastreg_client::Error> {
//! use std::sync::Arc;
//! use fastreg_client::{Client, FastRegisterOutcome, store::SqliteStore};
//!
//! let client = Client::builder("wxc0ffee0000000001", "component-secret")
//!     .auth_domain("platform.example.com")
//!     .store(Arc::new(SqliteStore::open("tokens.db")?))
//!     .build()?;
//! // Every 10 minutes WeChat pushes a verify ticket; store it:
//! client.set_verify_ticket("ticket@@@…").await?;
//! // Send the OA's admin here; they come back to the redirect with ?ticket=…
//! let link = client.fast_register_auth_url("wx0a00000000000001", true,
//!     "https://platform.example.com/fastregister/done")?;
//! match client.fast_register("wx0a00000000000001", "b25519093b1e97239eff9d2bfc07e08e").await {
//!     FastRegisterOutcome::Registered(mp) => println!("{} (refresh token saved: {})", mp.appid, mp.refresh_token_saved),
//!     FastRegisterOutcome::NotRegistered(e) => eprintln!("refused: {e}"),
//!     FastRegisterOutcome::Unknown(e) => eprintln!("not known yet: {e}"),
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod api;
mod client;
mod endpoints;
mod error;
pub mod push;
mod register;
pub mod store;
mod tokens;
mod urls;

pub use client::{Client, ClientBuilder, WECHAT_API, WECHAT_PAGES};
pub use error::{Error, Result};
pub use fastreg_wire as wire;
pub use fastreg_wire::ErrCode;
pub use register::{Evidence, FastRegisterOutcome, RegisteredMiniProgram};
pub use urls::AuthType;

// The answers the client's calls return, from the wire crate, so that a caller names them
// without depending on `fastreg-wire` (`FuncInfo::ids` lists a grant's permission sets).
pub use fastreg_wire::account::{
    AccountBasicInfoResponse, FastRegisterResponse, LinkedMiniProgram, WxVerifyInfo,
};
pub use fastreg_wire::component::{
    AuthorizationInfo, AuthorizerAuthorization, AuthorizerInfo, AuthorizerInfoResponse,
    AuthorizerListItem, AuthorizerListResponse, AuthorizerTokenResponse, ComponentTokenResponse,
    FuncInfo, FuncscopeCategory, IdInfo, MiniProgramCategory, MiniProgramInfo, MiniProgramNetwork,
    PreAuthCodeResponse,
};
