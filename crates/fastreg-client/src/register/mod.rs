//! fastregister, the one call that must never be lost or duplicated.
//!
//! What other SDKs get wrong and this module does not:
//! - it is sent once; nothing repeats it automatically (a repeat within 5 s burns the ticket
//!   with 61058; a generic retry on -1 can register twice or burn the monthly quota);
//! - its timeout is long (30 s by default);
//! - when the outcome is ambiguous (a timeout, a connection lost after sending, `-1`, an
//!   unreadable answer, or 61058 after an earlier ambiguous attempt with the same ticket), it
//!   reconciles: it compares the OA's linked Mini Programs (wxamplinkget) and the component's
//!   authorizer count before and after, and reports [`FastRegisterOutcome::Registered`],
//!   [`FastRegisterOutcome::NotRegistered`] or [`FastRegisterOutcome::Unknown`] rather than
//!   guessing;
//! - a retry the caller asks for (the same ticket again) waits until 5 s have passed since
//!   the previous attempt, and reuses the ticket: a platform that finished the first attempt
//!   answers the same success again. The attempts are remembered in the token store
//!   (`attempts.rs`), so this holds across processes sharing it, and a 61058 after an unknown
//!   outcome stays [`FastRegisterOutcome::Unknown`] there too ([`Error::EarlierAttemptUnsettled`]);
//! - on success it exchanges the authorization_code at once and persists the new Mini
//!   Program's refresh token before returning (falling back to api_get_authorizer_list).

mod attempts;

use std::collections::HashSet;
use std::time::Duration;

use fastreg_wire::ErrCode;

use crate::client::Client;
use crate::endpoints;
use crate::error::Error;
use crate::tokens::Auth;

/// What a fastregister call achieved. Every case is an outcome, not an error: the caller must
/// decide what to do with [`FastRegisterOutcome::Unknown`].
///
/// # Examples
/// ```no_run
/// # async fn run(client: fastreg_client::Client) {
/// use fastreg_client::FastRegisterOutcome::*;
/// match client.fast_register("wx0a00000000000001", "b25519093b1e97239eff9d2bfc07e08e").await {
///     Registered(mp) => println!("{}", mp.appid),
///     NotRegistered(why) => eprintln!("{why}"),
///     Unknown(why) => eprintln!("ask again with the same ticket later: {why}"),
/// }
/// # }
/// ```
///
/// The error inside `NotRegistered` has the table's remedy ([`Error::remedy`]) and, for 61058,
/// means the ticket is dead: send the admin through fastregisterauth again. Inside `Unknown` the
/// error is never a reason for a new ticket: a 61058 there is
/// [`Error::EarlierAttemptUnsettled`] (transient, remedy "ask again with the same ticket").
#[derive(Debug)]
#[must_use]
pub enum FastRegisterOutcome {
    /// The Mini Program exists: answered by WeChat, or found by reconciliation.
    Registered(RegisteredMiniProgram),
    /// Nothing was registered: WeChat refused (the error says why and what to do), or the
    /// call never left, or reconciliation found nothing after a definitive answer.
    NotRegistered(Error),
    /// It cannot be known yet (typically a timeout while the registration may still be
    /// running). Call [`Client::fast_register`] again with the same ticket (it waits until
    /// 5 s have passed), from this process or another one sharing the store: a finished
    /// registration is answered again, one still running is refused with 61058 and stays
    /// `Unknown` (with [`Error::EarlierAttemptUnsettled`]). Never get a new ticket for it: that
    /// risks a second registration.
    Unknown(Error),
}

impl FastRegisterOutcome {
    /// The registered Mini Program, if any.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) {
    /// let outcome = client.fast_register("wx0a00000000000001", "b25519093b1e97239eff9d2bfc07e08e").await;
    /// if let Some(mp) = outcome.registered() { println!("{}", mp.appid); }
    /// # }
    /// ```
    pub fn registered(&self) -> Option<&RegisteredMiniProgram> {
        match self {
            FastRegisterOutcome::Registered(r) => Some(r),
            _ => None,
        }
    }

    /// `Ok` for a registration, `Err` with the cause otherwise.
    ///
    /// # Errors
    /// The cause of a `NotRegistered` or `Unknown` outcome.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// let mp = client.fast_register("wx0a00000000000001", "b25519093b1e97239eff9d2bfc07e08e").await.into_result()?;
    /// # Ok(()) }
    /// ```
    pub fn into_result(self) -> Result<RegisteredMiniProgram, Error> {
        match self {
            FastRegisterOutcome::Registered(r) => Ok(r),
            FastRegisterOutcome::NotRegistered(e) | FastRegisterOutcome::Unknown(e) => Err(e),
        }
    }
}

/// A Mini Program that fastregister created.
///
/// # Examples
/// ```no_run
/// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
/// let mp = client.fast_register("wx0a00000000000001", "b25519093b1e97239eff9d2bfc07e08e").await.into_result()?;
/// if !mp.refresh_token_saved {
///     client.recover_refresh_token(&mp.appid).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RegisteredMiniProgram {
    /// Its appid.
    pub appid: String,
    /// The authorization_code answered (absent when found by reconciliation).
    pub authorization_code: Option<String>,
    /// Whether the OA's verification was reused (absent when found by reconciliation).
    pub is_wx_verify_succ: Option<bool>,
    /// Whether it was linked to the OA (absent when found by reconciliation).
    pub is_link_succ: Option<bool>,
    /// Whether its refresh token is persisted in the refresh-token store. When false, call
    /// [`Client::recover_refresh_token`] (or [`Client::query_auth`] with the code) soon.
    pub refresh_token_saved: bool,
    /// How the registration is known.
    pub evidence: Evidence,
}

/// The authorization_code is a credential: `Debug` masks it.
impl std::fmt::Debug for RegisteredMiniProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredMiniProgram")
            .field("appid", &self.appid)
            .field(
                "authorization_code",
                &self
                    .authorization_code
                    .as_ref()
                    .map(|_| fastreg_wire::redact::MASK),
            )
            .field("is_wx_verify_succ", &self.is_wx_verify_succ)
            .field("is_link_succ", &self.is_link_succ)
            .field("refresh_token_saved", &self.refresh_token_saved)
            .field("evidence", &self.evidence)
            .finish()
    }
}

/// How a registration is known.
///
/// # Examples
/// ```no_run
/// # fn run(mp: fastreg_client::RegisteredMiniProgram) {
/// if mp.evidence == fastreg_client::Evidence::Reconciled {
///     println!("registered although the call failed; its authorization_code is unknown");
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// WeChat answered it (possibly replaying an earlier attempt's success).
    Answered,
    /// The call's answer was lost or an error, yet the Mini Program appeared.
    Reconciled,
}

/// What is visible of an OA's registrations: its linked Mini Programs and the component's
/// authorizer count.
struct Snapshot {
    linked: HashSet<String>,
    authorizers: i64,
}

impl Client {
    /// Registers a Mini Program that reuses the Official Account `oa_appid`'s entity, with the
    /// `ticket` of the admin's fastregisterauth confirmation. Sent once, never repeated
    /// automatically; see the module docs for how ambiguous outcomes are resolved.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run(client: fastreg_client::Client) -> Result<(), fastreg_client::Error> {
    /// use fastreg_client::FastRegisterOutcome;
    ///
    /// match client.fast_register("wx0a00000000000001", "b25519093b1e97239eff9d2bfc07e08e").await {
    ///     FastRegisterOutcome::Registered(mp) => println!("new Mini Program {}", mp.appid),
    ///     FastRegisterOutcome::NotRegistered(why) => eprintln!("refused: {why}"),
    ///     FastRegisterOutcome::Unknown(why) => eprintln!("unknown yet ({why}); try the same ticket again later"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn fast_register(&self, oa_appid: &str, ticket: &str) -> FastRegisterOutcome {
        let previous = attempts::last(self, ticket).await;
        if let Some(p) = previous {
            let wait = p.wait(self.inner.retry_interval);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let after_unknown = previous.is_some_and(|p| p.ambiguous);
        let outcome = self
            .fast_register_once(oa_appid, ticket, after_unknown)
            .await;
        let ambiguous = matches!(outcome, FastRegisterOutcome::Unknown(_));
        attempts::record(self, ticket, ambiguous).await;
        outcome
    }

    async fn fast_register_once(
        &self,
        oa_appid: &str,
        ticket: &str,
        after_unknown: bool,
    ) -> FastRegisterOutcome {
        let before = match self.snapshot(oa_appid).await {
            Ok(s) => Some(s),
            Err(e) if !e.is_transient() => return FastRegisterOutcome::NotRegistered(e),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the OA's Mini Programs before fastregister; an ambiguous outcome will stay unknown");
                None
            }
        };
        let token = match self.authorizer_token(oa_appid).await {
            Ok(t) => t,
            Err(e) => return FastRegisterOutcome::NotRegistered(e),
        };
        match endpoints::fast_register(self, &token, ticket).await {
            Ok(r) => {
                let saved = self
                    .secure_refresh_token(&r.appid, Some(&r.authorization_code))
                    .await;
                FastRegisterOutcome::Registered(RegisteredMiniProgram {
                    appid: r.appid,
                    authorization_code: Some(r.authorization_code),
                    is_wx_verify_succ: Some(r.is_wx_verify_succ),
                    is_link_succ: Some(r.is_link_succ),
                    refresh_token_saved: saved,
                    evidence: Evidence::Answered,
                })
            }
            Err(e) => {
                if e.is_stale_token() {
                    // Refused at the first check: nothing happened. The next attempt gets a
                    // fresh token.
                    let _ = self.expire_token(Auth::Authorizer(oa_appid), &token).await;
                    return FastRegisterOutcome::NotRegistered(e);
                }
                // WeChat answers 61058 while an earlier attempt with the ticket is still running:
                // after an unknown outcome it is no proof that the ticket is dead.
                let e = match e {
                    Error::Api {
                        code: ErrCode::InvalidTicket,
                        ..
                    } if after_unknown => Error::EarlierAttemptUnsettled {
                        answer: Box::new(e),
                    },
                    e => e,
                };
                let ambiguous = match &e {
                    Error::Timeout(_) | Error::Decode { .. } => true,
                    Error::Transport { maybe_sent, .. } => *maybe_sent,
                    Error::Api {
                        code: ErrCode::SystemError,
                        ..
                    } => true,
                    Error::EarlierAttemptUnsettled { .. } => true,
                    _ => false,
                };
                if ambiguous {
                    self.reconcile(oa_appid, before, e).await
                } else {
                    FastRegisterOutcome::NotRegistered(e)
                }
            }
        }
    }

    async fn snapshot(&self, oa_appid: &str) -> Result<Snapshot, Error> {
        let linked = self
            .linked_mini_programs(oa_appid)
            .await?
            .into_iter()
            .map(|m| m.appid)
            .collect();
        let authorizers = self.authorizer_list(0, 1).await?.total_count;
        Ok(Snapshot {
            linked,
            authorizers,
        })
    }

    /// Decides an ambiguous outcome from what is visible now.
    async fn reconcile(
        &self,
        oa_appid: &str,
        before: Option<Snapshot>,
        cause: Error,
    ) -> FastRegisterOutcome {
        let Some(before) = before else {
            return FastRegisterOutcome::Unknown(cause);
        };
        let mut after = None;
        for pause in [0u64, 200, 1000] {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            match self.snapshot(oa_appid).await {
                Ok(s) => {
                    after = Some(s);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reconciliation could not list the OA's Mini Programs")
                }
            }
        }
        let Some(after) = after else {
            return FastRegisterOutcome::Unknown(cause);
        };
        let new: Vec<&String> = after.linked.difference(&before.linked).collect();
        match new.as_slice() {
            [appid] => {
                let appid = (*appid).clone();
                tracing::info!(mp = appid, cause = %cause, "reconciled: the Mini Program was registered despite the error");
                let saved = self.secure_refresh_token(&appid, None).await;
                FastRegisterOutcome::Registered(RegisteredMiniProgram {
                    appid,
                    authorization_code: None,
                    is_wx_verify_succ: None,
                    is_link_succ: None,
                    refresh_token_saved: saved,
                    evidence: Evidence::Reconciled,
                })
            }
            [] => {
                // Nothing new is linked. Only an answer that came back (-1, an unreadable
                // reply) and an unchanged authorizer count (no unlinked Mini Program either)
                // prove that nothing happened; a timeout may still be running.
                let answered = matches!(cause, Error::Api { .. } | Error::Decode { .. });
                if answered && after.authorizers == before.authorizers {
                    FastRegisterOutcome::NotRegistered(cause)
                } else {
                    FastRegisterOutcome::Unknown(cause)
                }
            }
            _ => {
                tracing::warn!(new = ?new, "several new Mini Programs appeared; cannot tell which is this call's");
                FastRegisterOutcome::Unknown(cause)
            }
        }
    }

    /// Exchanges the authorization_code (persisting the refresh token), falling back to the
    /// authorizer list. Returns whether the refresh token is now persisted.
    async fn secure_refresh_token(&self, mp_appid: &str, code: Option<&str>) -> bool {
        if let Some(code) = code {
            match self.query_auth(code).await {
                Ok(_) => return true,
                Err(e) => {
                    tracing::warn!(mp = mp_appid, error = %e, "exchanging the new Mini Program's authorization_code failed; recovering its refresh token from the authorizer list")
                }
            }
        }
        match self.recover_refresh_token(mp_appid).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(mp = mp_appid, error = %e, "the new Mini Program's refresh token is NOT saved");
                false
            }
        }
    }
}
