//! A connection's client: tokio-postgres driven from the connection's own thread, with the
//! calls of the synchronous `postgres` crate, plus *later* calls that pipeline.
//!
//! The writer spends most of a job waiting for round trips, one per statement, though many of
//! its statements need no answer before the job ends (a savepoint, an insert whose row count
//! nobody reads). [`PgClient::execute_later`] and [`PgClient::batch_execute_later`] send such a
//! statement at once and do not wait for it: it travels with the next statement that needs an
//! answer, or with [`PgClient::settle`], and its outcome is checked then. Statements still run
//! in the order they were sent, on one session, so nothing reads differently; only the error of
//! a later statement surfaces at the next call (whose own error it replaces: it happened
//! first).
//!
//! Every statement carries the number of the job that sent it ([`PgClient::tag`]), and the
//! client remembers the first job whose statement failed ([`PgClient::failed`]): the writer
//! does not wait for a job's later statements before running the next job, and settles them
//! all at its commit, so that a job whose last statements need no answer costs no round trip
//! of its own. Which jobs a failure undoes is the writer's business (`Writer` in `mod.rs`).
//!
//! [`PgClient::query_later`] does the same for a query whose rows are needed only after a
//! later statement's answer (a read that shares the round trip of the one after it); its rows
//! are taken once that answer came ([`LaterRows`]).
//!
//! A later statement is queued for the connection's task, which runs only while this thread
//! waits on the runtime; the writer lets it write them out after each job
//! ([`PgClient::push`]), so that the database works on one job while the writer runs the next.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use futures_util::TryStreamExt;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Row, Statement};
use tokio::runtime::Runtime;
use tokio_postgres::ToStatement;

use crate::error::{Error, Result};

/// A statement sent and not yet answered.
type Pending = Pin<Box<dyn Future<Output = std::result::Result<(), postgres::Error>> + Send>>;

/// See the module docs.
pub(super) struct PgClient {
    rt: Runtime,
    client: Arc<tokio_postgres::Client>,
    /// Each with the tag it was sent under.
    pending: Vec<(usize, Pending)>,
    /// Whether a statement was sent since the connection last had a turn
    /// ([`PgClient::push`]).
    unpushed: bool,
    /// The tag statements are sent under now.
    tag: usize,
    /// The first tag a failed statement was sent under, and the failure, until cleared.
    failed: Option<(usize, String)>,
    /// The running job's savepoint statement, until the job sends its first statement
    /// ([`PgClient::open`]): a job that sends none needs no savepoint.
    opening: Option<String>,
}

/// A parameter already encoded for its statement's type, so that a later statement owns its
/// parameters. Its `Debug` shows the size only: a parameter may be a token's hash.
struct Raw(Option<Bytes>);

impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Raw(NULL)"),
            Some(b) => write!(f, "Raw({} bytes)", b.len()),
        }
    }
}

impl ToSql for Raw {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            None => Ok(IsNull::Yes),
            Some(b) => {
                out.extend_from_slice(b);
                Ok(IsNull::No)
            }
        }
    }

    /// Encoded for the statement's own parameter type by [`PgClient::execute_later`].
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl PgClient {
    /// Connects on a runtime of the calling thread's own (never inside tokio's).
    pub(super) fn connect(
        config: &tokio_postgres::Config,
    ) -> std::result::Result<PgClient, ConnectError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ConnectError::Runtime)?;
        let (client, connection) = rt
            .block_on(config.connect(tokio_postgres::NoTls))
            .map_err(ConnectError::Postgres)?;
        // Driven whenever the thread waits for an answer (`block_on` runs spawned tasks).
        rt.spawn(async move {
            let _ = connection.await;
        });
        Ok(PgClient {
            rt,
            client: Arc::new(client),
            pending: Vec::new(),
            unpushed: false,
            tag: 0,
            failed: None,
            opening: None,
        })
    }

    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The tag statements are sent under now.
    pub(super) fn tag_now(&self) -> usize {
        self.tag
    }

    /// From now on, statements are sent under `tag` (a job's number in its batch).
    pub(super) fn tag(&mut self, tag: usize) {
        self.tag = tag;
    }

    /// The running job's savepoint statement (sent later), to go out with its first
    /// statement ([`PgClient::open`]).
    pub(super) fn set_opening(&mut self, sql: String) {
        self.opening = Some(sql);
    }

    /// The running job's savepoint statement, taken back if it was never sent (the job sent
    /// no statement).
    pub(super) fn take_opening(&mut self) -> Option<String> {
        self.opening.take()
    }

    /// Sends the running job's savepoint statement (later), if it has not gone out yet: the
    /// job is about to send a statement.
    pub(super) fn open(&mut self) {
        if let Some(sql) = self.opening.take() {
            self.batch_execute_later(sql);
        }
    }

    /// The first tag a statement failed under since [`PgClient::clear_failed`], with the
    /// failure (its causes, as the platform's errors show them).
    pub(super) fn failed(&self) -> Option<&(usize, String)> {
        self.failed.as_ref()
    }

    /// Forgets the failures recorded so far (the transaction was rolled back past them).
    pub(super) fn clear_failed(&mut self) {
        self.failed = None;
    }

    fn record_failure(&mut self, tag: usize, e: &postgres::Error) {
        if self.failed.as_ref().is_none_or(|(first, _)| tag < *first) {
            self.failed = Some((tag, super::causes(e)));
        }
    }

    /// Waits for every statement sent later; the first error among them.
    pub(super) fn settle(&mut self) -> std::result::Result<(), postgres::Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.unpushed = false;
        let settled = self.rt.block_on(settled(pending));
        self.record(settled)
    }

    /// Records the failures of statements `settled`; the first of them.
    fn record(
        &mut self,
        settled: Vec<(usize, std::result::Result<(), postgres::Error>)>,
    ) -> std::result::Result<(), postgres::Error> {
        let mut first = Ok(());
        for (tag, r) in settled {
            if let Err(e) = r {
                self.record_failure(tag, &e);
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    /// Runs `f` and waits for its answer; an error of a statement sent earlier wins. The
    /// statements sent earlier are driven meanwhile: a query's rows wait in a channel of their
    /// own, which the connection stops at when it is full, so that one not read would hold
    /// back every answer after it, `f`'s too.
    fn now<T>(
        &mut self,
        f: impl Future<Output = std::result::Result<T, postgres::Error>>,
    ) -> std::result::Result<T, postgres::Error> {
        let pending = std::mem::take(&mut self.pending);
        self.unpushed = false;
        let (out, settled) = self
            .rt
            .block_on(futures_util::future::join(f, settled(pending)));
        self.record(settled)?;
        if let Err(e) = &out {
            let tag = self.tag;
            self.record_failure(tag, e);
        }
        out
    }

    pub(super) fn prepare(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        let c = self.client.clone();
        self.now(async move { c.prepare(sql).await })
    }

    pub(super) fn query<T: ?Sized + ToStatement + Sync>(
        &mut self,
        st: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Vec<Row>, postgres::Error> {
        let c = self.client.clone();
        self.now(async move { c.query(st, params).await })
    }

    pub(super) fn query_one<T: ?Sized + ToStatement + Sync>(
        &mut self,
        st: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Row, postgres::Error> {
        let c = self.client.clone();
        self.now(async move { c.query_one(st, params).await })
    }

    pub(super) fn query_opt<T: ?Sized + ToStatement + Sync>(
        &mut self,
        st: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<Option<Row>, postgres::Error> {
        let c = self.client.clone();
        self.now(async move { c.query_opt(st, params).await })
    }

    pub(super) fn execute<T: ?Sized + ToStatement + Sync>(
        &mut self,
        st: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> std::result::Result<u64, postgres::Error> {
        let c = self.client.clone();
        self.now(async move { c.execute(st, params).await })
    }

    pub(super) fn batch_execute(&mut self, sql: &str) -> std::result::Result<(), postgres::Error> {
        let c = self.client.clone();
        self.now(async move { c.batch_execute(sql).await })
    }

    /// Sends `st` now and checks its outcome later (see the module docs).
    ///
    /// # Errors
    /// A parameter that cannot be encoded for its type (the statement is then not sent).
    pub(super) fn execute_later(
        &mut self,
        st: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<()> {
        let raw = encode(st, params)?;
        let (c, st) = (self.client.clone(), st.clone());
        self.send(Box::pin(async move {
            c.execute_raw(&st, raw.iter()).await.map(|_| ())
        }));
        Ok(())
    }

    /// Sends the query `st` now and keeps its rows, to be taken once it was answered
    /// ([`LaterRows::take`]): a query whose answer is needed only after a later statement's
    /// shares that statement's round trip.
    ///
    /// # Errors
    /// A parameter that cannot be encoded for its type (the query is then not sent).
    pub(super) fn query_later(
        &mut self,
        st: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<LaterRows> {
        let raw = encode(st, params)?;
        let rows = LaterRows(Arc::new(Mutex::new(None)));
        let (c, st, slot) = (self.client.clone(), st.clone(), rows.0.clone());
        self.send(Box::pin(async move {
            let answered: Vec<Row> = c.query_raw(&st, raw.iter()).await?.try_collect().await?;
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(answered);
            }
            Ok(())
        }));
        Ok(rows)
    }

    /// Lets the connection write what was sent later to the socket now, without waiting for
    /// any answer. A later statement is only queued for the connection, whose task runs when
    /// this thread waits on the runtime: without this, a batch whose jobs wait for nothing
    /// would reach the database all at once at its commit, the database idle while the writer
    /// ran the jobs and the writer idle while the database ran them.
    ///
    /// With nothing sent since the last turn, there is none: the writer pushes after every
    /// job, most of which send nothing (their writes are put off), and a turn costs a poll of
    /// the socket.
    pub(super) fn push(&mut self) {
        if std::mem::take(&mut self.unpushed) {
            self.rt.block_on(tokio::task::yield_now());
        }
    }

    /// Sends `sql` (simple query protocol) now and checks its outcome later.
    pub(super) fn batch_execute_later(&mut self, sql: impl Into<String>) {
        let (c, sql) = (self.client.clone(), sql.into());
        self.send(Box::pin(async move { c.batch_execute(&sql).await }));
    }

    /// Polls `p` once: tokio-postgres queues a request for the connection on a call's first
    /// poll, so requests go out in the order of the calls.
    fn send(&mut self, mut p: Pending) {
        let mut cx = Context::from_waker(Waker::noop());
        let tag = self.tag;
        self.unpushed = true;
        match p.as_mut().poll(&mut cx) {
            Poll::Pending => self.pending.push((tag, p)),
            // Refused before it was sent (a closed connection): reported when settled.
            Poll::Ready(r) => self.pending.push((tag, Box::pin(async move { r }))),
        }
    }
}

/// Waits for `pending`, in the order they were sent (their answers come in that order); each
/// outcome with its tag.
async fn settled(
    pending: Vec<(usize, Pending)>,
) -> Vec<(usize, std::result::Result<(), postgres::Error>)> {
    let mut out = Vec::with_capacity(pending.len());
    for (tag, p) in pending {
        out.push((tag, p.await));
    }
    out
}

/// `params` encoded for `st`'s parameter types, so that a statement sent later owns them.
fn encode(st: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Raw>> {
    if st.params().len() != params.len() {
        return Err(Error::Internal(anyhow::anyhow!(
            "a statement of {} parameters was given {}",
            st.params().len(),
            params.len()
        )));
    }
    let mut raw = Vec::with_capacity(params.len());
    for (p, ty) in params.iter().zip(st.params()) {
        let mut buf = BytesMut::new();
        let encoded = p.to_sql_checked(ty, &mut buf).map_err(|e| {
            Error::Internal(anyhow::anyhow!("encoding a parameter of type {ty}: {e}"))
        })?;
        raw.push(Raw(match encoded {
            IsNull::Yes => None,
            IsNull::No => Some(buf.freeze()),
        }));
    }
    Ok(raw)
}

/// The rows of a query sent later ([`PgClient::query_later`]).
pub(super) struct LaterRows(Arc<Mutex<Option<Vec<Row>>>>);

impl LaterRows {
    /// The rows, once the query was settled (by [`PgClient::settle`], or by any call that
    /// waits for an answer, since answers come in the order statements were sent); `None`
    /// if it failed (its failure was reported there) or was not answered yet.
    pub(super) fn take(self) -> Option<Vec<Row>> {
        self.0.lock().ok().and_then(|mut rows| rows.take())
    }
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    #[error("starting the connection's runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Postgres(postgres::Error),
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::PgClient;

    /// Runs `f` with a client of the server `FASTREG_TEST_PG` names, on a thread of its own
    /// (the client's runtime must not be nested in the test's); `None` without one, with the
    /// reason printed. Fails the test if `f` takes more than 30 s: a client that stops
    /// answering would otherwise hang the suite.
    fn with_client<T: Send + 'static>(f: fn(&mut PgClient) -> T) -> Option<T> {
        let Ok(url) = std::env::var("FASTREG_TEST_PG") else {
            eprintln!("skipped: FASTREG_TEST_PG is not set");
            return None;
        };
        let config = tokio_postgres::Config::from_str(&url).expect("FASTREG_TEST_PG is a URL");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut client = PgClient::connect(&config).expect("connecting to FASTREG_TEST_PG");
            let _ = tx.send(f(&mut client));
        });
        Some(
            rx.recv_timeout(Duration::from_secs(30))
                .expect("the client answered within 30 s"),
        )
    }

    #[test]
    fn a_query_sent_later_with_many_rows_does_not_hold_back_the_answer_waited_for_after_it() {
        let Some((one, many)) = with_client(|c| {
            let st = c.prepare("SELECT generate_series(1, $1::INT)").unwrap();
            let many = c.query_later(&st, &[&100_000i32]).unwrap();
            let one: i32 = c.query_one("SELECT 1::INT", &[]).unwrap().get(0);
            (one, many.take().map(|rows| rows.len()))
        }) else {
            return;
        };
        assert_eq!(one, 1);
        assert_eq!(many, Some(100_000));
    }

    #[test]
    fn a_query_sent_later_that_fails_has_no_rows_and_its_failure_is_the_next_calls_under_its_tag() {
        let Some((next, failed, rows)) = with_client(|c| {
            let st = c.prepare("SELECT 1 / $1::INT").unwrap();
            c.tag(3);
            let later = c.query_later(&st, &[&0i32]).unwrap();
            c.tag(4);
            let next = c
                .query_one("SELECT 1::INT", &[])
                .map(|_| ())
                .map_err(|e| super::super::causes(&e));
            (next, c.failed().cloned(), later.take())
        }) else {
            return;
        };
        let err = next.unwrap_err();
        assert!(err.contains("division by zero"), "{err}");
        let (tag, why) = failed.expect("a failure recorded");
        assert_eq!(tag, 3);
        assert!(why.contains("division by zero"), "{why}");
        assert!(rows.is_none());
    }
}
