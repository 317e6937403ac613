//! The client's one error type. "WeChat said no" ([`Error::Api`], with a typed [`ErrCode`]) is
//! kept apart from "we could not talk to WeChat" (transport, timeout) and "WeChat said something
//! we could not read" (decode), because the right reaction differs: an errcode has a documented
//! remedy; a timeout on a non-idempotent call means the outcome is unknown.
//!
//! [`PushError`] (a refused push, re-exported as `push::PushError`) lives here too, so that
//! [`Error::Push`] can carry it while this module stays a leaf that imports only the store.

use std::time::Duration;

use fastreg_wire::crypto::CryptoError;
use fastreg_wire::errcode::Retry;
use fastreg_wire::push::PushError as XmlError;
use fastreg_wire::ErrCode;

use crate::store::StoreError;

/// Everything that can go wrong in a call.
///
/// # Examples
/// ```no_run
/// # async fn run(client: fastreg_client::Client) {
/// use fastreg_client::{Error, ErrCode};
/// match client.authorizer_token("wx0a00000000000001").await {
///     Ok(token) => println!("{token}"),
///     Err(Error::Api { code: ErrCode::RefreshTokenInvalid, .. }) => eprintln!("the merchant must authorise again"),
///     Err(e) if e.is_transient() => eprintln!("try again later: {e}"),
///     Err(e) => eprintln!("{e}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// WeChat (or the platform) answered with a non-zero errcode.
    ///
    /// Its text gives the code, WeChat's errmsg text and the table's remedy:
    /// `WeChat refused with 61055 exceed quota per month (rid …): <remedy>`.
    #[error("WeChat refused with {code}{}{}", rid.as_deref().map(|r| format!(" (rid {r})")).unwrap_or_default(), code.info().map(|i| format!(": {}", i.remedy)).unwrap_or_default())]
    Api {
        /// The errcode; codes outside the table are kept as [`ErrCode::Other`].
        code: ErrCode,
        /// The errmsg as sent (with its rid/hint suffix).
        errmsg: String,
        /// The request id parsed off the errmsg, for support requests.
        rid: Option<String>,
    },
    /// The request could not be sent or its answer could not be received.
    ///
    /// Its text names the cause (refused, reset, DNS, TLS) but never the URL: WeChat's URLs carry
    /// the access token in their query, so the client strips it before keeping the error.
    #[error("transport error: {}", transport_chain(source))]
    Transport {
        /// The underlying error, without its URL.
        source: reqwest::Error,
        /// Whether the request may have reached the server (false: the connection was never
        /// made, so nothing happened there).
        maybe_sent: bool,
    },
    /// No answer within the timeout. For a non-idempotent call the outcome is unknown.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The answer was not the JSON the API documents.
    #[error("undecodable answer (HTTP {status}): {message}")]
    Decode {
        /// HTTP status of the answer.
        status: u16,
        /// What did not parse.
        message: String,
        /// The start of the body, for diagnosis.
        body: String,
    },
    /// The token store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No component_verify_ticket has been stored for the component yet.
    #[error("no component_verify_ticket is stored for {0}: serve a PushReceiver on this store and call Client::request_verify_ticket (api_start_push_ticket), or store one with Client::set_verify_ticket")]
    NoVerifyTicket(String),
    /// No refresh token is known for an authorizer, and api_get_authorizer_list does not list it.
    #[error(
        "no authorizer_refresh_token for {0}: it has not authorised the component (or revoked it)"
    )]
    NoRefreshToken(String),
    /// A redirect_uri outside the component's auth domain (WeChat would answer 61060).
    #[error("redirect_uri host {host:?} is not the component's auth domain {auth_domain:?} (WeChat would refuse with 61060)")]
    RedirectNotAllowed {
        /// The redirect's host.
        host: String,
        /// The configured auth domain.
        auth_domain: String,
    },
    /// The client is configured wrongly or an argument is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// fastregister was refused with 61058 (invalid ticket) when it repeated an earlier attempt
    /// with the same ticket whose outcome is unknown. That answer is what WeChat gives while the
    /// earlier attempt is still running, so it does not mean the ticket is dead: ask again with
    /// the **same** ticket after the retry interval, and never send the admin for a new ticket
    /// (a second registration must never be risked). Always inside
    /// [`crate::FastRegisterOutcome::Unknown`]; [`Error::code`] gives 61058 and
    /// [`Error::is_transient`] is true.
    #[error(
        "WeChat answered {} to a repeat of an attempt whose outcome is unknown: {}",
        answer_head(answer),
        EARLIER_ATTEMPT_REMEDY
    )]
    EarlierAttemptUnsettled {
        /// WeChat's answer (an [`Error::Api`] with 61058).
        answer: Box<Error>,
    },
    /// A push was refused (see [`crate::push::PushError`]); lets `?` carry it in a handler that
    /// returns this crate's error.
    #[error(transparent)]
    Push(#[from] PushError),
}

/// What to do after [`Error::EarlierAttemptUnsettled`].
const EARLIER_ATTEMPT_REMEDY: &str =
    "the earlier attempt may still be running; call fast_register again with the same ticket \
     (it waits the retry interval) until the outcome is known, and do not get a new ticket";

impl Error {
    /// The errcode, when WeChat answered with one.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) {
    /// if let Err(e) = client.authorizer_info("wx0a00000000000001").await {
    ///     if let Some(code) = e.code() {
    ///         eprintln!("{code}: {}", code.info().map_or("", |i| i.remedy));
    ///     }
    /// }
    /// # }
    /// ```
    ///
    /// Match variants with `matches!`:
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) {
    /// use fastreg_client::{ErrCode, FastRegisterOutcome};
    /// if let FastRegisterOutcome::NotRegistered(e) = client.fast_register("wx0a00000000000001", "b25519093b1e97239eff9d2bfc07e08e").await {
    ///     if matches!(e.code(), Some(ErrCode::ExceedQuotaPerMonth)) {
    ///         eprintln!("this entity's monthly quota is used up");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn code(&self) -> Option<ErrCode> {
        match self {
            Error::Api { code, .. } => Some(*code),
            Error::EarlierAttemptUnsettled { answer } => answer.code(),
            _ => None,
        }
    }

    /// The numeric errcode, when WeChat answered with one (`Some(61055)`): for logs, metrics
    /// and comparisons with WeChat's documentation.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) {
    /// if let Err(e) = client.create_pre_auth_code().await {
    ///     if e.errcode() == Some(61004) { eprintln!("call from an IP outside the whitelist"); }
    /// }
    /// # }
    /// ```
    pub fn errcode(&self) -> Option<i64> {
        self.code().map(ErrCode::code)
    }

    /// What to do about this error, when the errcode table (or this client) knows: the table's
    /// remedy for [`Error::Api`], the "ask again with the same ticket" rule for
    /// [`Error::EarlierAttemptUnsettled`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) {
    /// if let Err(e) = client.authorizer_info("wx0a00000000000001").await {
    ///     eprintln!("{e}\nwhat to do: {}", e.remedy().unwrap_or("see the message"));
    /// }
    /// # }
    /// ```
    pub fn remedy(&self) -> Option<&'static str> {
        match self {
            Error::Api { code, .. } => code.info().map(|i| i.remedy),
            Error::EarlierAttemptUnsettled { .. } => Some(EARLIER_ATTEMPT_REMEDY),
            _ => None,
        }
    }

    /// Whether repeating the same call later can help without anyone changing anything:
    /// transient WeChat errors, timeouts and transport failures. (For fastregister, do not
    /// repeat blindly: see [`crate::FastRegisterOutcome`].)
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) {
    /// if let Err(e) = client.component_token().await {
    ///     if e.is_transient() { /* back off and try again */ }
    /// }
    /// # }
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Api { code, .. } => code.retry() == Retry::Later,
            Error::Timeout(_) | Error::Transport { .. } | Error::EarlierAttemptUnsettled { .. } => {
                true
            }
            _ => false,
        }
    }

    /// Whether the token used was rejected as invalid or expired (40001 / 42001): the call may
    /// be repeated once with a fresh token.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) {
    /// if let Err(e) = client.authorizer_list(0, 10).await {
    ///     // Already refreshed and repeated once by the client; a second rejection lands here.
    ///     assert!(!e.is_stale_token() || e.code().is_some());
    /// }
    /// # }
    /// ```
    pub fn is_stale_token(&self) -> bool {
        matches!(
            self,
            Error::Api {
                code: ErrCode::InvalidCredential | ErrCode::AccessTokenExpired,
                ..
            }
        )
    }
}

/// An answer's code and rid without the table's remedy, which [`Error::EarlierAttemptUnsettled`]
/// overrides.
fn answer_head(answer: &Error) -> String {
    match answer {
        Error::Api { code, rid, .. } => format!(
            "{code}{}",
            rid.as_deref()
                .map(|r| format!(" (rid {r})"))
                .unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

/// A transport error's causes, outermost first, joined with `: ` and scrubbed of credentials
/// (belt and braces: the URL is already gone).
fn transport_chain(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    fastreg_wire::redact::text(&parts.join(": "))
}

/// Why a push was refused (also `push::PushError`). Nothing was stored and no event was handed on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// A query parameter WeChat always sends is missing.
    #[error("push refused: the query has no {0}")]
    MissingParameter(&'static str),
    /// `msg_signature` does not match: not from WeChat, or tampered with.
    #[error(
        "push refused: msg_signature does not match (wrong token, or the message was altered)"
    )]
    BadSignature,
    /// The signed timestamp is too far from now: a replayed push.
    #[error(
        "push refused: timestamp {timestamp} is more than {max_skew:?} away from now (a replay?)"
    )]
    Stale {
        /// The push's timestamp.
        timestamp: String,
        /// The allowed skew.
        max_skew: Duration,
    },
    /// The body is not a push envelope.
    #[error("push refused: the body is not a push envelope: {0}")]
    Envelope(String),
    /// The envelope or the message is for another component.
    #[error("push refused: it is for {got:?}, this receiver is {expected:?}")]
    WrongAppId {
        /// The appid in the push.
        got: String,
        /// This component.
        expected: String,
    },
    /// Decryption failed (wrong EncodingAESKey, corrupted ciphertext, wrong trailing appid).
    #[error("push refused: cannot decrypt: {0}")]
    Decrypt(#[source] CryptoError),
    /// The decrypted XML is not a push message.
    #[error("push refused: the message does not parse: {0}")]
    Message(#[source] XmlError),
    /// Storing the verify ticket failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Error> for PushError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(s) => PushError::Store(s),
            Error::Push(p) => p,
            other => PushError::Store(StoreError::new("client", other)),
        }
    }
}

/// The client's result.
///
/// # Examples
/// ```no_run
/// fn token(client: &fastreg_client::Client) -> fastreg_client::Result<()> { Ok(()) }
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;
