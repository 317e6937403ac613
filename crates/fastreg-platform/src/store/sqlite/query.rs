//! How [`SqliteTx`] runs a statement and reads its rows: through the connection's statement
//! cache, with the driver's errors mapped to the platform's here, and rows read through
//! [`Cells`] by the shared decoders of [`crate::store::rows`].

use rusqlite::Row;

use super::fault;
use super::tx::SqliteTx;
use crate::error::Result;
use crate::store::rows::Cells;

impl Cells for Row<'_> {
    fn text(&self, i: usize) -> Result<String> {
        self.get(i).map_err(fault)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.get(i).map_err(fault)
    }

    fn int(&self, i: usize) -> Result<i64> {
        self.get(i).map_err(fault)
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        self.get(i).map_err(fault)
    }

    fn flag(&self, i: usize) -> Result<bool> {
        self.get(i).map_err(fault)
    }

    fn parse<T>(&self, i: usize, f: impl FnOnce(&str) -> Result<T>) -> Result<T> {
        let text = self.get_ref(i).map_err(fault)?.as_str();
        f(text.map_err(|e| {
            fault(rusqlite::Error::FromSqlConversionFailure(
                i,
                rusqlite::types::Type::Text,
                Box::new(e),
            ))
        })?)
    }
}

impl SqliteTx<'_> {
    /// The first row `sql` returns, decoded by `f`.
    pub(super) fn one<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut st = self.conn.prepare_cached(sql).map_err(fault)?;
        let mut rows = st.query(p).map_err(fault)?;
        match rows.next().map_err(fault)? {
            Some(row) => f(row).map(Some),
            None => Ok(None),
        }
    }

    /// Every row `sql` returns, decoded by `f`.
    pub(super) fn all<T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        mut f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.conn.prepare_cached(sql).map_err(fault)?;
        let mut rows = st.query(p).map_err(fault)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(fault)? {
            out.push(f(row)?);
        }
        Ok(out)
    }

    pub(super) fn count(&self, sql: &str, p: impl rusqlite::Params) -> Result<i64> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut st| st.query_row(p, |r| r.get(0)))
            .map_err(fault)
    }

    pub(super) fn exec(&self, sql: &str, p: impl rusqlite::Params) -> Result<usize> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut st| st.execute(p))
            .map_err(fault)
    }
}
