//! One connection interface over SQLite and PostgreSQL, so that every query
//! of the store is written once.
//!
//! Statements use numbered parameters (`?1`, `?2`, ...) and portable SQL:
//! `INSERT ... ON CONFLICT`, `RETURNING`, `COALESCE`, `CASE`. Values go in
//! as [`Param`]s, which both drivers can bind, and come back through
//! [`Row`], whose getters accept each backend's representation of the same
//! value: money is TEXT in SQLite and NUMERIC in PostgreSQL, a sum is an
//! INTEGER in one and a NUMERIC in the other.

use rust_decimal::Decimal;

use crate::store::StoreError;

/// A value both drivers can bind. Integers are bound as `i64` (PostgreSQL
/// checks widths: the schema's integers are all BIGINT), money as [`Money`].
pub trait Param: Sync {
    /// The value as SQLite binds it.
    fn sqlite(&self) -> &dyn rusqlite::ToSql;
    /// The value as PostgreSQL binds it.
    fn postgres(&self) -> &(dyn postgres::types::ToSql + Sync);
}

impl<T: rusqlite::ToSql + postgres::types::ToSql + Sync> Param for T {
    fn sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }

    fn postgres(&self) -> &(dyn postgres::types::ToSql + Sync) {
        self
    }
}

/// An amount of money as a parameter: TEXT in SQLite (its exact decimal
/// form), NUMERIC in PostgreSQL.
#[derive(Debug, Clone, Copy)]
pub struct Money(pub Decimal);

impl rusqlite::ToSql for Money {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.0.to_string()))
    }
}

impl postgres::types::ToSql for Money {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        <Decimal as postgres::types::ToSql>::accepts(ty)
    }

    postgres::types::to_sql_checked!();
}

/// A row of a result, read by column index.
pub trait Row {
    /// An integer column (a boolean reads as 0 or 1).
    fn int(&self, idx: usize) -> Result<Option<i64>, StoreError>;
    /// A text column.
    fn text(&self, idx: usize) -> Result<Option<String>, StoreError>;
    /// A binary column.
    fn bytes(&self, idx: usize) -> Result<Option<Vec<u8>>, StoreError>;
    /// A money column.
    fn money(&self, idx: usize) -> Result<Option<Decimal>, StoreError>;
}

impl dyn Row + '_ {
    /// Column `idx` as a `T`; NULL only where `T` is an `Option`.
    pub fn get<T: Column>(&self, idx: usize) -> Result<T, StoreError> {
        T::read(self, idx)
    }
}

/// A Rust type a column converts to.
pub trait Column: Sized {
    /// Reads column `idx` of `row`.
    fn read(row: &dyn Row, idx: usize) -> Result<Self, StoreError>;
}

fn not_null<T>(value: Option<T>, idx: usize) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::Corrupt(format!("column {idx} is unexpectedly NULL")))
}

macro_rules! integer_columns {
    ($($t:ty),*) => {$(
        impl Column for Option<$t> {
            fn read(row: &dyn Row, idx: usize) -> Result<Self, StoreError> {
                row.int(idx)?
                    .map(|v| {
                        <$t>::try_from(v).map_err(|_| {
                            StoreError::Corrupt(format!(
                                "column {idx} holds {v}, out of range for {}",
                                stringify!($t)
                            ))
                        })
                    })
                    .transpose()
            }
        }

        impl Column for $t {
            fn read(row: &dyn Row, idx: usize) -> Result<Self, StoreError> {
                not_null(Option::<$t>::read(row, idx)?, idx)
            }
        }
    )*};
}

integer_columns!(i64, i32, u32, u64, usize);

impl Column for Option<bool> {
    fn read(row: &dyn Row, idx: usize) -> Result<Self, StoreError> {
        Ok(row.int(idx)?.map(|v| v != 0))
    }
}

impl Column for bool {
    fn read(row: &dyn Row, idx: usize) -> Result<Self, StoreError> {
        not_null(Option::<bool>::read(row, idx)?, idx)
    }
}

impl Column for Option<String> {
    fn read(row: &dyn Row, idx: usize) -> Result<Self, StoreError> {
        row.text(idx)
    }
}

impl Column for String {
    fn read(row: &dyn Row, idx: usize) -> Result<Self, StoreError> {
        not_null(row.text(idx)?, idx)
    }
}

impl Column for Option<Vec<u8>> {
    fn read(row: &dyn Row, idx: usize) -> Result<Self, StoreError> {
        row.bytes(idx)
    }
}

impl Column for Vec<u8> {
    fn read(row: &dyn Row, idx: usize) -> Result<Self, StoreError> {
        not_null(row.bytes(idx)?, idx)
    }
}

impl Column for Option<Decimal> {
    fn read(row: &dyn Row, idx: usize) -> Result<Self, StoreError> {
        row.money(idx)
    }
}

impl Column for Decimal {
    fn read(row: &dyn Row, idx: usize) -> Result<Self, StoreError> {
        not_null(row.money(idx)?, idx)
    }
}

/// A connection (or the transaction it is in) that runs statements.
pub trait Db {
    /// Runs a statement; returns the number of rows it changed.
    fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError>;

    /// Runs a query and hands each row to `each` until it returns `false`.
    fn query(
        &self,
        sql: &str,
        params: &[&dyn Param],
        each: &mut dyn FnMut(&dyn Row) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError>;
}

impl dyn Db + '_ {
    /// Every row of a query, converted by `f`.
    pub fn rows<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        self.query(sql, params, &mut |row| {
            out.push(f(row)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The first row of a query, if any, converted by `f`.
    pub fn row<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut f = Some(f);
        let mut out = None;
        self.query(sql, params, &mut |row| {
            if let Some(f) = f.take() {
                out = Some(f(row)?);
            }
            Ok(false)
        })?;
        Ok(out)
    }

    /// The first row of a query that always returns one (an aggregate, an
    /// `INSERT ... RETURNING`), converted by `f`.
    pub fn one<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.row(sql, params, f)?.ok_or_else(|| {
            StoreError::Database(format!(
                "a query expected to return a row returned none: {}",
                sql.split_whitespace().collect::<Vec<_>>().join(" ")
            ))
        })
    }
}

/// A driver error as a store error.
pub fn sqlite_error(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

impl Db for rusqlite::Connection {
    fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError> {
        self.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(sqlite_params(params)))
            .map_err(sqlite_error)
    }

    fn query(
        &self,
        sql: &str,
        params: &[&dyn Param],
        each: &mut dyn FnMut(&dyn Row) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.prepare_cached(sql).map_err(sqlite_error)?;
        let mut rows = stmt.query(sqlite_params(params)).map_err(sqlite_error)?;
        while let Some(row) = rows.next().map_err(sqlite_error)? {
            if !each(&SqliteRow(row))? {
                break;
            }
        }
        Ok(())
    }
}

fn sqlite_params<'a>(
    params: &'a [&'a dyn Param],
) -> rusqlite::ParamsFromIter<impl Iterator<Item = &'a dyn rusqlite::ToSql>> {
    rusqlite::params_from_iter(params.iter().map(|p| p.sqlite()))
}

struct SqliteRow<'a, 'r>(&'a rusqlite::Row<'r>);

impl Row for SqliteRow<'_, '_> {
    fn int(&self, idx: usize) -> Result<Option<i64>, StoreError> {
        self.0.get(idx).map_err(sqlite_error)
    }

    fn text(&self, idx: usize) -> Result<Option<String>, StoreError> {
        self.0.get(idx).map_err(sqlite_error)
    }

    fn bytes(&self, idx: usize) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(idx).map_err(sqlite_error)
    }

    fn money(&self, idx: usize) -> Result<Option<Decimal>, StoreError> {
        use rusqlite::types::ValueRef;
        match self.0.get_ref(idx).map_err(sqlite_error)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(v) => Ok(Some(Decimal::from(v))),
            ValueRef::Text(text) => std::str::from_utf8(text)
                .ok()
                .and_then(|text| text.parse().ok())
                .map(Some)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "column {idx} holds `{}`, not an amount",
                        String::from_utf8_lossy(text)
                    ))
                }),
            other => Err(StoreError::Corrupt(format!(
                "column {idx} holds a {:?} value, not an amount",
                other.data_type()
            ))),
        }
    }
}
