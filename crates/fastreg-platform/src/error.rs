//! The platform's one error type.
//!
//! `Wx` is an answer: an errcode for the caller, with the HTTP status to send it under (200 on
//! the WeChat-compatible endpoints, as WeChat does; a matching 4xx on the sandbox API) and an
//! optional detail that is logged with the request id. On WeChat-compatible endpoints the
//! detail is never sent, so WeChat's exact errmsg texts stay exact; the sandbox API, which is
//! ours, appends it to errmsg. `Internal` is a fault: logged in full, answered as `-1 system
//! error`; each storage backend maps its driver's errors to it at its own edge. Nothing here decides which errcode a situation gets; the rules and the service do.

use fastreg_wire::ErrCode;

/// The platform's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Answer this errcode.
    #[error("{code}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Wx {
        /// The errcode.
        code: ErrCode,
        /// The HTTP status (200 for WeChat-compatible endpoints).
        status: u16,
        /// What exactly was wrong, for the log line (and the sandbox API's errmsg).
        detail: Option<String>,
    },
    /// A fault of the platform itself: storage, a bug. Answered as `-1 system error`.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The platform's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A WeChat-style refusal, HTTP 200.
    pub fn wx(code: ErrCode) -> Self {
        Error::Wx {
            code,
            status: 200,
            detail: None,
        }
    }

    /// A refusal with a detail for the log.
    pub fn wx_detail(code: ErrCode, detail: impl Into<String>) -> Self {
        Error::Wx {
            code,
            status: 200,
            detail: Some(detail.into()),
        }
    }

    /// A sandbox API refusal: an errcode under a real HTTP status, with a detail the caller sees.
    pub fn sandbox(status: u16, code: ErrCode, detail: impl Into<String>) -> Self {
        Error::Wx {
            code,
            status,
            detail: Some(detail.into()),
        }
    }

    /// The errcode this error answers.
    pub fn code(&self) -> ErrCode {
        match self {
            Error::Wx { code, .. } => *code,
            Error::Internal(_) => ErrCode::SystemError,
        }
    }
}

impl From<ErrCode> for Error {
    fn from(code: ErrCode) -> Self {
        Error::wx(code)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(e.into())
    }
}
