//! The receiving end of WeChat's pushes to a component's authorisation-event URL.
//!
//! [`PushReceiver::handle`] takes a push's query parameters and body and does, in order:
//! verify `msg_signature` (constant time) against the component's token; refuse a stale
//! timestamp (a replayed push); decrypt with the EncodingAESKey (and the previous one, kept while
//! a key change propagates); check that the envelope and the plaintext name this component;
//! parse the InfoType into a [`PushEvent`]. A `component_verify_ticket` is stored at once (the
//! token manager reads it); authorisation events are handed to the application. Nothing is
//! stored or handed on from a push that fails any check.
//!
//! With the `axum` feature, [`axum_route::router`] serves all of it and answers `success`.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use fastreg_wire::crypto::{self, AesKey, KeyUsed};
use fastreg_wire::push::Envelope;
pub use fastreg_wire::push::PushEvent;

use crate::client::{Client, Secret};
pub use crate::error::PushError;
use crate::store::unix_now;

/// The query parameters of a push.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushQuery {
    /// Seconds since the epoch, as sent.
    pub timestamp: String,
    /// The nonce, as sent.
    pub nonce: String,
    /// SHA-1 over the token, timestamp, nonce and `Encrypt`.
    pub msg_signature: String,
}

impl PushQuery {
    /// Reads the parameters from a query map (the first value of each).
    ///
    /// # Errors
    /// [`PushError::MissingParameter`].
    ///
    /// # Examples
    /// ```no_run
    /// let mut q = std::collections::HashMap::new();
    /// q.insert("timestamp".to_string(), "1713424427".to_string());
    /// q.insert("nonce".to_string(), "415670741".to_string());
    /// q.insert("msg_signature".to_string(), "03e0…".to_string());
    /// let query = fastreg_client::push::PushQuery::from_map(&q)?;
    /// # Ok::<(), fastreg_client::push::PushError>(())
    /// ```
    pub fn from_map(q: &HashMap<String, String>) -> Result<PushQuery, PushError> {
        let get = |k: &'static str| {
            q.get(k)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or(PushError::MissingParameter(k))
        };
        Ok(PushQuery {
            timestamp: get("timestamp")?,
            nonce: get("nonce")?,
            msg_signature: get("msg_signature")?,
        })
    }

    /// Parses a raw query string (`signature=…&timestamp=…&nonce=…&encrypt_type=aes&msg_signature=…`).
    ///
    /// # Errors
    /// [`PushError::MissingParameter`].
    ///
    /// # Examples
    /// ```no_run
    /// let q = fastreg_client::push::PushQuery::from_query_str("timestamp=1&nonce=2&msg_signature=abc")?;
    /// # Ok::<(), fastreg_client::push::PushError>(())
    /// ```
    pub fn from_query_str(query: &str) -> Result<PushQuery, PushError> {
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Self::from_map(&map)
    }
}

/// Verifies, decrypts and parses the pushes of one component. Cheap to clone.
///
/// # Examples
/// ```no_run
/// # async fn run(client: fastreg_client::Client, query: &str, body: &str) -> Result<(), fastreg_client::push::PushError> {
/// use fastreg_client::push::{PushEvent, PushQuery};
/// let receiver = client.push_receiver("component-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?;
/// match receiver.handle(&PushQuery::from_query_str(query)?, body).await? {
///     PushEvent::Authorized { authorization_code, .. } => { client.query_auth(&authorization_code).await.ok(); }
///     _ => {}
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PushReceiver {
    client: Client,
    token: Secret,
    key: AesKey,
    previous_key: Option<AesKey>,
    max_skew: Option<Duration>,
}

impl fmt::Debug for PushReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushReceiver")
            .field("component", &self.client.component_appid())
            .field("previous_key", &self.previous_key.is_some())
            .field("max_skew", &self.max_skew)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A receiver for this component's pushes, with the message-verification token and the
    /// EncodingAESKey configured on open.weixin.qq.com (or the platform's component).
    ///
    /// # Errors
    /// [`PushError::Decrypt`] with [`CryptoError`](fastreg_wire::crypto::CryptoError) when the key is not a 43-character
    /// EncodingAESKey.
    ///
    /// # Examples
    /// ```no_run
    /// # fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::push::PushError> {
    /// let receiver = client.push_receiver("component-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?;
    /// # Ok(()) }
    /// ```
    pub fn push_receiver(
        &self,
        token: impl Into<String>,
        encoding_aes_key: &str,
    ) -> Result<PushReceiver, PushError> {
        Ok(PushReceiver {
            client: self.clone(),
            token: Secret(token.into()),
            key: AesKey::from_encoding_aes_key(encoding_aes_key).map_err(PushError::Decrypt)?,
            previous_key: None,
            max_skew: Some(Duration::from_secs(600)),
        })
    }
}

impl PushReceiver {
    /// Also accept pushes encrypted with the previous EncodingAESKey (keep it for a while after
    /// changing the key: WeChat does not switch every sender at once).
    ///
    /// # Errors
    /// [`PushError::Decrypt`] when the key is malformed.
    ///
    /// # Examples
    /// ```no_run
    /// # fn run(r: fastreg_client::push::PushReceiver) -> Result<(), fastreg_client::push::PushError> {
    /// let r = r.previous_encoding_aes_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")?;
    /// # Ok(()) }
    /// ```
    pub fn previous_encoding_aes_key(mut self, key: &str) -> Result<Self, PushError> {
        self.previous_key = Some(AesKey::from_encoding_aes_key(key).map_err(PushError::Decrypt)?);
        Ok(self)
    }

    /// How far a push's timestamp may be from now (default 600 s; `None` accepts any, which
    /// lets a captured push be replayed).
    ///
    /// # Examples
    /// ```no_run
    /// # fn run(r: fastreg_client::push::PushReceiver) {
    /// let r = r.max_timestamp_skew(Some(std::time::Duration::from_secs(300)));
    /// # }
    /// ```
    pub fn max_timestamp_skew(mut self, skew: Option<Duration>) -> Self {
        self.max_skew = skew;
        self
    }

    /// Verifies, decrypts and parses one push; stores a `component_verify_ticket`; returns the
    /// event. Answer WeChat `success` when this returns `Ok`.
    ///
    /// # Errors
    /// [`PushError`]: nothing was stored.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(r: fastreg_client::push::PushReceiver, q: &str, body: &str) -> Result<(), fastreg_client::push::PushError> {
    /// let event = r.handle(&fastreg_client::push::PushQuery::from_query_str(q)?, body).await?;
    /// println!("{}", event.info_type());
    /// # Ok(()) }
    /// ```
    pub async fn handle(&self, query: &PushQuery, body: &str) -> Result<PushEvent, PushError> {
        let event = self.open(query, body)?;
        if let PushEvent::ComponentVerifyTicket {
            ticket,
            create_time,
            ..
        } = &event
        {
            // A late retry of an older push must not replace a newer ticket.
            self.client
                .store_verify_ticket(ticket, *create_time)
                .await?;
        }
        Ok(event)
    }

    /// Every check of [`PushReceiver::handle`], without storing anything.
    fn open(&self, query: &PushQuery, body: &str) -> Result<PushEvent, PushError> {
        let expected = self.client.component_appid();
        let envelope = Envelope::parse(body).map_err(|e| PushError::Envelope(e.to_string()))?;
        // The signature first: nothing else about an unauthenticated push is worth trusting.
        crypto::verify(
            &self.token.0,
            &query.timestamp,
            &query.nonce,
            &envelope.encrypt,
            &query.msg_signature,
        )
        .map_err(|_| PushError::BadSignature)?;
        if !envelope.app_id.is_empty() && envelope.app_id != expected {
            return Err(PushError::WrongAppId {
                got: envelope.app_id,
                expected: expected.to_string(),
            });
        }
        if let Some(max) = self.max_skew {
            let fresh = query
                .timestamp
                .parse::<i64>()
                .is_ok_and(|t| (unix_now() - t).unsigned_abs() <= max.as_secs());
            if !fresh {
                return Err(PushError::Stale {
                    timestamp: query.timestamp.clone(),
                    max_skew: max,
                });
            }
        }
        let decrypted = crypto::decrypt_with_fallback(
            &self.key,
            self.previous_key.as_ref(),
            &envelope.encrypt,
            expected,
        )
        .map_err(PushError::Decrypt)?;
        if decrypted.key_used == KeyUsed::Previous {
            tracing::info!(
                component = expected,
                "a push used the previous EncodingAESKey"
            );
        }
        let event = PushEvent::parse(&decrypted.msg).map_err(PushError::Message)?;
        if event.app_id() != expected {
            return Err(PushError::WrongAppId {
                got: event.app_id().to_string(),
                expected: expected.to_string(),
            });
        }
        Ok(event)
    }
}

/// An axum route that receives pushes and answers `success` (feature `axum`).
#[cfg(feature = "axum")]
pub mod axum_route {
    use std::collections::HashMap;
    use std::future::Future;

    use axum::extract::{Query, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::post;
    use axum::Router;

    use super::{PushEvent, PushQuery, PushReceiver};

    /// A router with `POST /` receiving pushes: each accepted event (the verify ticket already
    /// stored) goes to `on_event` in its own task, so the answer `success` is immediate; a
    /// refused push gets HTTP 400 with the reason (WeChat retries it), and nothing is stored.
    ///
    /// Mount it where your authorisation-event URL points with **`nest_service`**, which answers
    /// both `/wechat/events` and `/wechat/events/` (the URL configured on open.weixin.qq.com may
    /// end with a slash). axum's `nest` would answer only the path without the slash.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use fastreg_client::push::{axum_route, PushEvent};
    /// let receiver = client.push_receiver("component-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?;
    /// let app = axum::Router::new().nest_service("/wechat/events", axum_route::router(receiver, |event: PushEvent| async move {
    ///     println!("{}", event.info_type());
    /// }));
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// axum::serve(listener, app).await?;
    /// # Ok(()) }
    /// ```
    pub fn router<F, Fut>(receiver: PushReceiver, on_event: F) -> Router
    where
        F: Fn(PushEvent) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = move |State(receiver): State<PushReceiver>,
                            Query(query): Query<HashMap<String, String>>,
                            body: String| {
            let on_event = on_event.clone();
            async move {
                let result = match PushQuery::from_map(&query) {
                    Ok(q) => receiver.handle(&q, &body).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(event) => {
                        tokio::spawn(on_event(event));
                        "success".into_response()
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "refused a push");
                        (StatusCode::BAD_REQUEST, e.to_string()).into_response()
                    }
                }
            }
        };
        Router::new().route("/", post(handler)).with_state(receiver)
    }
}
