//! Group commit, shared by the backends: a batch of jobs runs in one transaction, each job in
//! its own savepoint (a job that fails rolls back alone), the batch commits once, and only then
//! is any job answered. A backend supplies the transaction statements and a [`Tx`] over its
//! connection, and may read ahead for the batch what its jobs named ([`ReadAhead`]).
//!
//! A job that fails only before its first write ([`Fails::BeforeWriting`]) needs no savepoint
//! where the backend can tell whether it wrote ([`BatchConn::changes`]): SQLite copies every
//! page a job changes inside a savepoint into the savepoint's journal, a tenth of its writer's
//! time on a batch of successes (BENCHMARKS.md). Should such a job fail after writing after all
//! (a storage fault), the batch's transaction is rolled back, the jobs before it are answered
//! that nothing of them was written, and the jobs after it run in a new transaction.
//!
//! A backend that checks the writes a job sent without waiting only at the commit
//! (PostgreSQL's writer, `postgres/client.rs`) learns there that a job which returned a success
//! did not write: that job and the later ones of the batch are then answered with an error, and
//! the earlier ones are committed ([`BatchConn::failed_from`]).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use anyhow::anyhow;
use tokio::sync::oneshot;

use super::{Fails, Job, ReadAhead, Tx};
use crate::error::{Error, Result};

/// Where a job's answer goes.
pub(crate) type Reply = oneshot::Sender<Result<Box<dyn Any + Send>>>;

/// A job queued for a backend's thread.
pub(crate) struct Request {
    pub job: Job,
    /// What the job is going to read ([`ReadAhead`]): a backend may read it for the whole
    /// batch at once before the first job runs.
    pub ahead: ReadAhead,
    /// When the job may fail ([`Fails`]): whether it needs a savepoint of its own.
    pub fails: Fails,
    pub reply: Reply,
}

/// Queues `job` for the thread behind `queue` (named `who` in errors) and waits for its
/// answer, which arrives after its transaction ends.
pub(crate) async fn submit(
    queue: &std::sync::mpsc::Sender<Request>,
    job: Job,
    ahead: ReadAhead,
    fails: Fails,
    who: &str,
) -> Result<Box<dyn Any + Send>> {
    let (reply, rx) = oneshot::channel();
    queue
        .send(Request {
            job,
            ahead,
            fails,
            reply,
        })
        .map_err(|_| Error::Internal(anyhow!("{who} has stopped")))?;
    rx.await
        .map_err(|_| Error::Internal(anyhow!("{who} dropped a job")))?
}

/// The transaction statements of a batch.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Control {
    /// Opens the write transaction (and takes whatever lock serialises writers).
    Begin,
    Savepoint,
    Release,
    /// `Release` of the last job's savepoint and `Savepoint` for the next, in one go (one
    /// round trip on PostgreSQL).
    ReleaseThenSavepoint,
    RollbackTo,
    Commit,
    Rollback,
}

/// Why a batch's transaction did not begin ([`BatchConn::begin`]).
pub(crate) enum NotBegun {
    /// It did not open.
    Begin(Error),
    /// It opened, and reading ahead failed.
    ReadAhead(Error),
}

/// A connection that can run a batch.
pub(crate) trait BatchConn {
    /// Runs a transaction statement.
    fn control(&mut self, what: Control) -> Result<()>;
    /// Opens the batch's transaction ([`Control::Begin`]) and may read at once, for the batch,
    /// what its jobs said they will read (the jobs then find it in memory). A backend whose
    /// reads are cheap only opens it.
    fn begin(&mut self, _ahead: &[&ReadAhead]) -> std::result::Result<(), NotBegun> {
        self.control(Control::Begin).map_err(NotBegun::Begin)
    }
    /// Runs one job on a [`Tx`] over this connection.
    fn run(&mut self, job: Job) -> Result<Box<dyn Any + Send>>;
    /// The batch's transaction ended, committed or not, and no job is answered yet.
    fn ended(&mut self) {}
    /// After a commit: the first job (by its place in the batch) from which on nothing was
    /// written, because a statement of that job failed after the job had returned (a backend
    /// that checks a job's statements only at the commit), with that failure. That job and
    /// every later one are answered with an error.
    fn failed_from(&mut self) -> Option<(usize, String)> {
        None
    }
    /// How many rows this connection's statements have written so far (any count that grows
    /// with every write and with nothing else), where the backend can tell: a job that fails
    /// only before writing then runs without a savepoint, and a failure of it that left the
    /// count unchanged left nothing to undo. `None` (the default): every job of a batch of
    /// several runs in a savepoint of its own.
    fn changes(&mut self) -> Option<u64> {
        None
    }
}

/// Answers every job of `batch` with an internal error saying `why` (nothing of it ran).
pub(crate) fn fail_all(batch: Vec<Request>, why: &str) {
    for r in batch {
        let _ = r.reply.send(Err(Error::Internal(anyhow!("{why}"))));
    }
}

/// Runs a job, turning a panic into an internal error (the backend's thread must live on).
pub(crate) fn run_caught(tx: &mut dyn Tx, job: Job) -> Result<Box<dyn Any + Send>> {
    match catch_unwind(AssertUnwindSafe(|| job(tx))) {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::Internal(anyhow!("storage job panicked: {what}")))
        }
    }
}

/// Runs `batch` as one transaction; see the module docs.
pub(crate) fn run_batch(conn: &mut dyn BatchConn, batch: Vec<Request>) {
    let ahead: Vec<&ReadAhead> = batch
        .iter()
        .map(|r| &r.ahead)
        .filter(|a| !a.is_empty())
        .collect();
    match conn.begin(&ahead) {
        Ok(()) => {}
        Err(NotBegun::Begin(e)) => {
            // A failed BEGIN may leave a transaction open on some servers.
            let _ = conn.control(Control::Rollback);
            fail_all(batch, &format!("BEGIN failed: {e}"));
            return;
        }
        Err(NotBegun::ReadAhead(e)) => {
            let _ = conn.control(Control::Rollback);
            conn.ended();
            fail_all(batch, &format!("reading ahead failed: {e}"));
            return;
        }
    }
    let single = batch.len() == 1;
    let mut done: Vec<(Reply, Result<Box<dyn Any + Send>>)> = Vec::with_capacity(batch.len());
    // A succeeded job's savepoint is released with the next job's opening (or by the commit,
    // which commits it with everything else).
    let mut unreleased = false;
    let mut jobs = batch.into_iter();
    while let Some(req) = jobs.next() {
        // A lone job needs no savepoint: its failure rolls back the whole transaction. Nor
        // does one that fails only before writing, where its writes can be counted.
        let unguarded = match req.fails {
            Fails::BeforeWriting if !single => conn.changes(),
            _ => None,
        };
        let guarded = !single && unguarded.is_none();
        if guarded || unreleased {
            let open = match (guarded, unreleased) {
                (true, true) => Control::ReleaseThenSavepoint,
                (true, false) => Control::Savepoint,
                // The last job's savepoint would also journal this one's pages.
                (false, _) => Control::Release,
            };
            unreleased = false;
            if let Err(e) = conn.control(open) {
                done.push((req.reply, Err(e)));
                continue;
            }
        }
        let out = conn.run(req.job);
        if let Some(before) = unguarded {
            if out.is_err() && conn.changes() != Some(before) {
                start_over(conn, done, (req.reply, out), jobs.collect());
                return;
            }
        } else if guarded {
            if out.is_ok() {
                unreleased = true;
            } else {
                let end = conn
                    .control(Control::RollbackTo)
                    .and_then(|()| conn.control(Control::Release));
                if let Err(e) = end {
                    done.push((req.reply, Err(e)));
                    continue;
                }
            }
        }
        done.push((req.reply, out));
    }
    let commit = if single && done.iter().any(|(_, r)| r.is_err()) {
        conn.control(Control::Rollback)
    } else {
        conn.control(Control::Commit)
    };
    if commit.is_err() {
        let _ = conn.control(Control::Rollback);
    }
    conn.ended();
    match commit {
        Ok(()) => {
            let failed = conn.failed_from();
            for (i, (reply, out)) in done.into_iter().enumerate() {
                let out = match &failed {
                    Some((first, why)) if i == *first => Err(Error::Internal(anyhow!("{why}"))),
                    Some((first, _)) if i > *first => Err(Error::Internal(anyhow!(
                        "not written: a statement of an earlier job of its batch failed"
                    ))),
                    _ => out,
                };
                let _ = reply.send(out);
            }
        }
        Err(e) => {
            let why = format!("{e}");
            for (reply, _) in done {
                let _ = reply.send(Err(Error::Internal(anyhow!("COMMIT failed: {why}"))));
            }
        }
    }
}

/// A job run without a savepoint failed after writing: rolls the batch's transaction back,
/// answers the jobs run so far (`done`, and `failed` with its own failure), none of whose
/// writes was kept, and runs the jobs after them (`rest`) as a batch of their own.
fn start_over(
    conn: &mut dyn BatchConn,
    done: Vec<(Reply, Result<Box<dyn Any + Send>>)>,
    failed: (Reply, Result<Box<dyn Any + Send>>),
    rest: Vec<Request>,
) {
    let _ = conn.control(Control::Rollback);
    conn.ended();
    for (reply, out) in done {
        let out = out.and_then(|_| {
            Err(Error::Internal(anyhow!(
                "not written: a later job of its batch failed after writing, which rolled the batch back"
            )))
        });
        let _ = reply.send(out);
    }
    let _ = failed.0.send(failed.1);
    if !rest.is_empty() {
        run_batch(conn, rest);
    }
}
