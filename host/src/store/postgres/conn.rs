//! A PostgreSQL connection behind the store's [`Db`] interface.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::HashMap;

use postgres::types::Type;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::store::StoreError;
use crate::store::db::{Db, Param, Row};

/// Statements kept prepared per connection, as SQLite's cache keeps them.
const STATEMENT_CACHE: usize = 256;

/// One PostgreSQL session. The store's queries run on `&self` (rows are
/// fetched whole before they are handed out, so a query never overlaps
/// another on the same session).
pub struct PgConn {
    config: postgres::Config,
    /// `None` only while the connection is being dropped.
    client: RefCell<Option<postgres::Client>>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
    conflict: Cell<bool>,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConn").finish_non_exhaustive()
    }
}

/// A driver error as a store error: a lost connection or a conflict with
/// another session makes the store unavailable for now (the caller tries
/// again), anything else is a database error.
pub(crate) fn pg_error(e: &postgres::Error) -> StoreError {
    if e.is_closed() || e.code().is_some_and(is_transient) {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Database(match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        })
    }
}

/// Serialization failures and deadlocks: the transaction can be run again.
pub(crate) fn is_transient(code: &postgres::error::SqlState) -> bool {
    *code == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
        || *code == postgres::error::SqlState::T_R_DEADLOCK_DETECTED
}

impl PgConn {
    /// Opens a session.
    pub(crate) fn connect(config: postgres::Config) -> Result<Self, StoreError> {
        let client = config
            .connect(postgres::NoTls)
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(Self {
            config,
            client: RefCell::new(Some(client)),
            statements: RefCell::new(HashMap::new()),
            conflict: Cell::new(false),
        })
    }

    /// Opens the session again if it was lost (the server restarted).
    pub(crate) fn reconnect_if_closed(&self) -> Result<(), StoreError> {
        if !self.is_closed() {
            return Ok(());
        }
        let client = self
            .config
            .connect(postgres::NoTls)
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        self.statements.borrow_mut().clear();
        *self.client.borrow_mut() = Some(client);
        Ok(())
    }

    /// Runs statements that take no parameters (transaction control,
    /// migrations) through the simple query protocol.
    pub(crate) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        let result = self.client()?.batch_execute(sql);
        result.map_err(|e| self.failed(&e))
    }

    fn client(&self) -> Result<RefMut<'_, postgres::Client>, StoreError> {
        RefMut::filter_map(self.client.borrow_mut(), Option::as_mut)
            .map_err(|_| StoreError::Unavailable("the PostgreSQL session is closed".to_owned()))
    }

    /// Whether the session is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.client
            .borrow()
            .as_ref()
            .is_none_or(postgres::Client::is_closed)
    }

    /// Whether a statement failed because of another session since the
    /// last call; clears the mark.
    pub(crate) fn take_conflict(&self) -> bool {
        self.conflict.replace(false)
    }

    /// `e` as a store error, marking a conflict with another session.
    fn failed(&self, e: &postgres::Error) -> StoreError {
        if e.code().is_some_and(is_transient) {
            self.conflict.set(true);
        }
        pg_error(e)
    }

    fn prepare(&self, sql: &str) -> Result<postgres::Statement, StoreError> {
        if let Some(stmt) = self.statements.borrow().get(sql) {
            return Ok(stmt.clone());
        }
        let prepared = self.client()?.prepare(&numbered(sql));
        let stmt = prepared.map_err(|e| self.failed(&e))?;
        let mut statements = self.statements.borrow_mut();
        if statements.len() >= STATEMENT_CACHE {
            statements.clear();
        }
        statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Closing the session runs the driver's runtime, which must not
        // start on a thread driving the daemon's (the last handle to a
        // store may well be dropped there).
        if let Some(client) = self.client.get_mut().take() {
            <crate::store::postgres::Postgres as crate::store::sql::Backend>::blocking(move || {
                drop(client);
            });
        }
    }
}

/// Rewrites SQLite's `?N` parameters to PostgreSQL's `$N`, leaving string
/// literals and quoted identifiers alone.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '?') if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

fn pg_params<'a>(params: &'a [&'a dyn Param]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
    params.iter().map(|p| p.postgres()).collect()
}

impl Db for PgConn {
    fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError> {
        let stmt = self.prepare(sql)?;
        let changed = self.client()?.execute(&stmt, &pg_params(params));
        let changed = changed.map_err(|e| self.failed(&e))?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    fn query(
        &self,
        sql: &str,
        params: &[&dyn Param],
        each: &mut dyn FnMut(&dyn Row) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let stmt = self.prepare(sql)?;
        let rows = self.client()?.query(&stmt, &pg_params(params));
        let rows = rows.map_err(|e| self.failed(&e))?;
        for row in &rows {
            if !each(&PgRow(row))? {
                break;
            }
        }
        Ok(())
    }
}

struct PgRow<'a>(&'a postgres::Row);

impl PgRow<'_> {
    fn typed<T: for<'b> postgres::types::FromSql<'b>>(
        &self,
        idx: usize,
    ) -> Result<Option<T>, StoreError> {
        self.0
            .try_get::<_, Option<T>>(idx)
            .map_err(|e| StoreError::Corrupt(format!("column {idx}: {e}")))
    }

    fn column_type(&self, idx: usize) -> Result<&Type, StoreError> {
        self.0
            .columns()
            .get(idx)
            .map(postgres::Column::type_)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {idx}")))
    }
}

impl Row for PgRow<'_> {
    fn int(&self, idx: usize) -> Result<Option<i64>, StoreError> {
        let ty = self.column_type(idx)?;
        if *ty == Type::INT8 {
            self.typed::<i64>(idx)
        } else if *ty == Type::INT4 {
            Ok(self.typed::<i32>(idx)?.map(i64::from))
        } else if *ty == Type::INT2 {
            Ok(self.typed::<i16>(idx)?.map(i64::from))
        } else if *ty == Type::BOOL {
            Ok(self.typed::<bool>(idx)?.map(i64::from))
        } else if *ty == Type::NUMERIC {
            self.typed::<Decimal>(idx)?
                .map(|v| {
                    v.to_i64().filter(|_| v.fract().is_zero()).ok_or_else(|| {
                        StoreError::Corrupt(format!("column {idx} holds {v}, not an integer"))
                    })
                })
                .transpose()
        } else {
            Err(StoreError::Corrupt(format!(
                "column {idx} is a {ty}, not an integer"
            )))
        }
    }

    fn text(&self, idx: usize) -> Result<Option<String>, StoreError> {
        self.typed(idx)
    }

    fn bytes(&self, idx: usize) -> Result<Option<Vec<u8>>, StoreError> {
        self.typed(idx)
    }

    fn money(&self, idx: usize) -> Result<Option<Decimal>, StoreError> {
        let ty = self.column_type(idx)?;
        if *ty == Type::NUMERIC {
            self.typed(idx)
        } else if *ty == Type::TEXT {
            self.typed::<String>(idx)?
                .map(|text| {
                    text.parse().map_err(|_| {
                        StoreError::Corrupt(format!("column {idx} holds `{text}`, not an amount"))
                    })
                })
                .transpose()
        } else {
            Ok(self.int(idx)?.map(Decimal::from))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn parameters_are_renumbered_outside_quotes() {
        assert_eq!(
            numbered(
                "SELECT a FROM t WHERE b = ?1 AND c IN (?2, ?10) AND d = '?3' AND \"?4\" = ?5"
            ),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2, $10) AND d = '?3' AND \"?4\" = $5"
        );
        assert_eq!(numbered("SELECT 'it''s ?1', ?2"), "SELECT 'it''s ?1', $2");
    }
}
