//! How [`PgTx`] runs a statement and reads its rows: through the connection's prepared
//! statements, with the driver's errors mapped to the platform's here, and rows read through
//! [`Cells`] by the shared decoders of [`crate::store::rows`].

use postgres::types::ToSql;
use postgres::Row;

use anyhow::anyhow;

use super::client::LaterRows;
use super::tx::PgTx;
use super::{deferred, fault};
use crate::domain::WorldKey;
use crate::error::{Error, Result};
use crate::store::rows::Cells;

/// A statement's parameters.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Cells for Row {
    fn text(&self, i: usize) -> Result<String> {
        self.try_get(i).map_err(fault)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.try_get(i).map_err(fault)
    }

    fn int(&self, i: usize) -> Result<i64> {
        self.try_get(i).map_err(fault)
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        self.try_get(i).map_err(fault)
    }

    fn flag(&self, i: usize) -> Result<bool> {
        self.try_get(i).map_err(fault)
    }

    fn parse<T>(&self, i: usize, f: impl FnOnce(&str) -> Result<T>) -> Result<T> {
        f(self.try_get(i).map_err(fault)?)
    }
}

impl PgTx<'_> {
    /// Before any statement of a job: the writes put off by the jobs before it, its savepoint
    /// if it has not gone out yet, then its own writes put off
    /// (`deferred.rs` says why in that order).
    pub(super) fn before_statement(&mut self) -> Result<()> {
        let job = self.conn.client.tag_now();
        let (earlier, own) = match self.deferred() {
            Some(deferred) if !deferred.is_empty() => {
                let all = std::mem::take(deferred);
                all.into_iter().partition(|d| d.job < job)
            }
            _ => (Vec::new(), Vec::new()),
        };
        deferred::send(self.conn, earlier)?;
        self.conn.client.open();
        deferred::send(self.conn, own)
    }

    /// `p`, and the world when the statement takes it (its `fw()`, see `placeholders`).
    fn with_world<'p>(
        st: &postgres::Statement,
        p: Params<'p>,
        world: &'p WorldKey,
    ) -> Vec<&'p (dyn ToSql + Sync)> {
        let mut all = p.to_vec();
        if st.params().len() > p.len() {
            all.push(world);
        }
        all
    }

    pub(super) fn one<T>(
        &mut self,
        sql: &str,
        p: Params,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let st = self.conn.statement(sql)?;
        let world = self.world;
        let p = Self::with_world(&st, p, &world);
        self.before_statement()?;
        match self.conn.client.query_opt(&st, &p).map_err(fault)? {
            Some(row) => Ok(Some(f(&row)?)),
            None => Ok(None),
        }
    }

    pub(super) fn all<T>(
        &mut self,
        sql: &str,
        p: Params,
        f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let st = self.conn.statement(sql)?;
        let world = self.world;
        let p = Self::with_world(&st, p, &world);
        self.before_statement()?;
        let rows = self.conn.client.query(&st, &p).map_err(fault)?;
        rows.iter().map(f).collect()
    }

    /// [`PgTx::all`], sent now and answered later: its rows are taken, decoded by `decode`,
    /// once a later call has waited for an answer ([`Later::take`]).
    pub(super) fn all_later<T>(
        &mut self,
        sql: &str,
        p: Params,
        decode: fn(&Row) -> Result<T>,
    ) -> Result<Later<T>> {
        let st = self.conn.statement(sql)?;
        let world = self.world;
        let p = Self::with_world(&st, p, &world);
        self.before_statement()?;
        let rows = self.conn.client.query_later(&st, &p)?;
        Ok(Later { rows, decode })
    }

    pub(super) fn count(&mut self, sql: &str, p: Params) -> Result<i64> {
        let st = self.conn.statement(sql)?;
        let world = self.world;
        let p = Self::with_world(&st, p, &world);
        self.before_statement()?;
        self.conn.client.query_one(&st, &p).map_err(fault)?.int(0)
    }

    pub(super) fn exec(&mut self, sql: &str, p: Params) -> Result<u64> {
        // A write may change what was read at once.
        self.prefetched = None;
        let st = self.conn.statement(sql)?;
        let world = self.world;
        let p = Self::with_world(&st, p, &world);
        self.before_statement()?;
        self.conn.client.execute(&st, &p).map_err(fault)
    }

    /// [`Self::exec`] for a write whose row count nobody reads: sent now, its outcome checked
    /// with the next statement that is waited for, or when the job ends (`client.rs`).
    pub(super) fn exec_later(&mut self, sql: &str, p: Params) -> Result<()> {
        self.prefetched = None;
        let st = self.conn.statement(sql)?;
        let world = self.world;
        let p = Self::with_world(&st, p, &world);
        self.before_statement()?;
        self.conn.client.execute_later(&st, &p)
    }
}

/// The rows of a query sent without waiting ([`PgTx::all_later`]), with their decoder.
pub(super) struct Later<T> {
    rows: LaterRows,
    decode: fn(&Row) -> Result<T>,
}

impl<T> Later<T> {
    /// The rows decoded, once a call after the query's has waited for its answer (a failure
    /// of the query is that call's error).
    pub(super) fn take(self) -> Result<Vec<T>> {
        let rows = self.rows.take().ok_or_else(|| {
            Error::Internal(anyhow!("a query sent without waiting has no answer"))
        })?;
        rows.iter().map(self.decode).collect()
    }

    /// Waits for the answer (and for every statement sent before it), then [`Later::take`].
    pub(super) fn wait(self, tx: &mut PgTx<'_>) -> Result<Vec<T>> {
        tx.conn.client.settle().map_err(fault)?;
        self.take()
    }
}
