//! How [`PgTx`] runs a statement and reads its rows: through the connection's prepared
//! statements, with the driver's errors mapped to the platform's here, and rows read through
//! [`Cells`] by the shared decoders of [`crate::store::rows`].

use postgres::types::ToSql;
use postgres::Row;

use super::fault;
use super::tx::PgTx;
use crate::domain::WorldKey;
use crate::error::Result;
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
        let rows = self.conn.client.query(&st, &p).map_err(fault)?;
        rows.iter().map(f).collect()
    }

    pub(super) fn count(&mut self, sql: &str, p: Params) -> Result<i64> {
        let st = self.conn.statement(sql)?;
        let world = self.world;
        let p = Self::with_world(&st, p, &world);
        self.conn.client.query_one(&st, &p).map_err(fault)?.int(0)
    }

    pub(super) fn exec(&mut self, sql: &str, p: Params) -> Result<u64> {
        // A write may change what was read at once.
        self.prefetched = None;
        let st = self.conn.statement(sql)?;
        let world = self.world;
        let p = Self::with_world(&st, p, &world);
        self.conn.client.execute(&st, &p).map_err(fault)
    }

    /// [`Self::exec`] for a write whose row count nobody reads: sent now, its outcome checked
    /// with the next statement that is waited for, or when the job ends (`client.rs`).
    pub(super) fn exec_later(&mut self, sql: &str, p: Params) -> Result<()> {
        self.prefetched = None;
        let st = self.conn.statement(sql)?;
        let world = self.world;
        let p = Self::with_world(&st, p, &world);
        self.conn.client.execute_later(&st, &p)
    }
}
