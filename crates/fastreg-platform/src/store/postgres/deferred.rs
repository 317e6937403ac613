//! The writer's writes put off and written together: the token replacements (`tokens.rs`) and
//! the fastregister successes (`success.rs`) of a row of its batch's jobs, one statement per
//! kind and world for all of them instead of one per job.
//!
//! Issuing a token (an authorizer_access_token refreshed, a component token) or completing a
//! fastregister is a job that reads what it checks from the view and the batch's memory and
//! then writes. Sent alone, its write cost the database a statement (a bind, an executor
//! started and ended, an answer written to the socket) and the job a savepoint, which was most
//! of what such a job cost the cluster's one serial chain; put off, a job that writes nothing
//! else sends nothing at all (its savepoint is never made, see `Writer` in `mod.rs`).
//!
//! What is put off goes out before any other statement of the batch ([`PgTx::before_statement`]),
//! so that every statement still sees the writes of the jobs before it; once [`SEND_AT`] have
//! gathered, before the next job begins, so that the database writes them while the writer runs
//! the jobs after them; and at the commit. A job whose writes are put off and then fails drops
//! them (`Control::RollbackTo`). The writes of earlier jobs go out before a job's savepoint, and
//! the job's own after it, so that rolling back to a job's savepoint undoes its writes and no
//! one else's.
//!
//! Should such a statement fail (a drawn appid taken after all, a fault), it fails under the
//! tag of its first job. That job's savepoint was never made unless it also sent a statement of
//! its own: the batch then fails as a whole at the commit (else that job and the later ones
//! fail, and the earlier ones commit), and no job that failed is answered with a success.

use std::collections::BTreeMap;

use super::success::{self, Success};
use super::tokens;
use super::tx::PgTx;
use super::Conn;
use crate::domain::{TokenRecord, WorldKey};
use crate::error::Result;

/// How many writes put off by jobs that have ended go out together before the next job
/// begins (`Writer` in `mod.rs`); the rest go out with the commit.
pub(super) const SEND_AT: usize = 16;

/// A write put off.
pub(super) enum Put {
    /// A token that replaces its key's current one.
    Token(TokenRecord),
    /// A fastregister success's writes.
    Success(Box<Success>),
}

/// A write put off: of `job` (its place in the batch), in `world`.
pub(super) struct Deferred {
    pub world: WorldKey,
    pub job: usize,
    pub put: Put,
}

/// Sends `deferred` (in the order of their jobs) without waiting, a statement per kind and
/// world (`client.rs`), under the tag of its first job: a failure then undoes that job and
/// every later one.
pub(super) fn send(conn: &mut Conn, deferred: Vec<Deferred>) -> Result<()> {
    let Some(first) = deferred.first().map(|d| d.job) else {
        return Ok(());
    };
    type Both<'d> = (Vec<&'d Success>, Vec<&'d TokenRecord>);
    let mut by_world: BTreeMap<WorldKey, Both<'_>> = BTreeMap::new();
    for d in &deferred {
        let (successes, tokens) = by_world.entry(d.world).or_default();
        match &d.put {
            Put::Success(s) => successes.push(s),
            Put::Token(t) => tokens.push(t),
        }
    }
    let tag = conn.client.tag_now();
    conn.client.tag(first);
    let mut out = Ok(());
    // The two kinds write different tables, so their order does not matter.
    for (world, (successes, tokens)) in by_world {
        if !successes.is_empty() {
            out = success::send_later(conn, world, &successes);
        }
        if out.is_ok() && !tokens.is_empty() {
            out = tokens::send_later(conn, world, &tokens);
        }
        if out.is_err() {
            break;
        }
    }
    conn.client.tag(tag);
    out
}

impl PgTx<'_> {
    /// Writer: puts off the write `put` makes, to send it with the batch's next statement, with
    /// others, or at its commit; `false` on a reader (nothing put off, `put` not called).
    pub(super) fn defer(&mut self, put: impl FnOnce() -> Put) -> bool {
        let job = self.conn.client.tag_now();
        let world = self.world;
        match self.deferred() {
            Some(deferred) => {
                deferred.push(Deferred {
                    world,
                    job,
                    put: put(),
                });
                true
            }
            None => false,
        }
    }
}
