//! One way to run a statement on either backend, so that each query and each
//! bookkeeping rule is written once (see ARCHITECTURE.md, "the cloud's storage").
//!
//! Statements are written in the common subset of SQLite's and PostgreSQL's SQL, with
//! PostgreSQL's `$1, $2, …` placeholders (turned into SQLite's `?1, ?2, …`) and `CAST(x
//! AS type)` rather than `x::type`; where the dialects really differ, the code asks
//! [`Db::dialect`]. Values travel as [`Param`]s and come back through [`Row::get`],
//! which know the two mappings the schemas use: a time is an integer of milliseconds on
//! SQLite and a `timestamptz` on PostgreSQL, JSON is text on SQLite and `jsonb` on
//! PostgreSQL, a boolean is an integer on SQLite.
//!
//! Why our own layer rather than a query builder: the statements are few, fixed and
//! hand-tuned (cursor paging on row values, partial indexes, leases), a builder would
//! only respell them, and its two driver bindings would still leave the async
//! PostgreSQL and the blocking SQLite drivers to be driven apart. Here a function
//! generic over [`Db`] is written once and runs natively on PostgreSQL, and on SQLite
//! inside the store's blocking writer (where its futures complete at once).

use std::error::Error as StdError;

use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::types::{IsNull, Type, to_sql_checked};

use crate::clock;

/// Which SQL the database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `column` is one of the texts of the [`Param::TextList`] at `$n`: one parameter
    /// however long the list (one statement to plan, not one per length).
    pub fn in_list(self, column: &str, n: usize) -> String {
        match self {
            Self::Sqlite => format!("{column} IN (SELECT value FROM json_each(${n}))"),
            Self::Postgres => format!("{column} = ANY(${n})"),
        }
    }

    /// The larger of two values (`GREATEST` in PostgreSQL; SQLite's scalar `MAX`).
    pub fn greatest(self, a: &str, b: &str) -> String {
        match self {
            Self::Sqlite => format!("MAX({a}, {b})"),
            Self::Postgres => format!("GREATEST({a}, {b})"),
        }
    }

    /// The type a time is stored as (to `CAST` a parameter to, where its type must be
    /// known before it is compared).
    pub fn time_type(self) -> &'static str {
        match self {
            Self::Sqlite => "INTEGER",
            Self::Postgres => "timestamptz",
        }
    }
}

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
    Real(f64),
    Time(OffsetDateTime),
    Json(Value),
    Bytes(Vec<u8>),
    /// A list of texts: a `text[]` on PostgreSQL (`= ANY($n)`), a JSON array on SQLite
    /// (`IN (SELECT value FROM json_each($n))`); see [`Dialect::in_list`].
    TextList(Vec<String>),
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&String> for Param {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<i32> for Param {
    fn from(v: i32) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<u32> for Param {
    fn from(v: u32) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<bool> for Param {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl From<f64> for Param {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}

impl From<OffsetDateTime> for Param {
    fn from(v: OffsetDateTime) -> Self {
        Self::Time(v)
    }
}

impl From<Value> for Param {
    fn from(v: Value) -> Self {
        Self::Json(v)
    }
}

impl From<&[u8]> for Param {
    fn from(v: &[u8]) -> Self {
        Self::Bytes(v.to_vec())
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

impl<T: Into<Param> + Clone> From<&Option<T>> for Param {
    fn from(v: &Option<T>) -> Self {
        v.clone().map_or(Self::Null, Into::into)
    }
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as Lite};
        Ok(match self {
            Self::Null => ToSqlOutput::Owned(Lite::Null),
            Self::Text(s) => ToSqlOutput::Borrowed(s.as_str().into()),
            Self::Int(i) => ToSqlOutput::Owned(Lite::Integer(*i)),
            Self::Bool(b) => ToSqlOutput::Owned(Lite::Integer(i64::from(*b))),
            Self::Real(f) => ToSqlOutput::Owned(Lite::Real(*f)),
            Self::Time(t) => ToSqlOutput::Owned(Lite::Integer(clock::to_ms(*t))),
            Self::Json(v) => ToSqlOutput::Owned(Lite::Text(v.to_string())),
            Self::Bytes(b) => ToSqlOutput::Borrowed(b.as_slice().into()),
            Self::TextList(list) => ToSqlOutput::Owned(Lite::Text(
                serde_json::to_string(list).unwrap_or_else(|_| "[]".into()),
            )),
        })
    }
}

impl tokio_postgres::types::ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        // The column's type decides the width: an integer parameter fits any of them.
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Text(s) => s.to_sql(ty, out),
            Self::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Self::Int(i) if *ty == Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
            #[allow(clippy::cast_precision_loss)]
            Self::Int(i) if *ty == Type::FLOAT8 => (*i as f64).to_sql(ty, out),
            Self::Int(i) => i.to_sql(ty, out),
            Self::Bool(b) => b.to_sql(ty, out),
            Self::Real(f) => f.to_sql(ty, out),
            Self::Time(t) => t.to_sql(ty, out),
            Self::Json(v) => v.to_sql(ty, out),
            Self::Bytes(b) => b.to_sql(ty, out),
            Self::TextList(list) => list.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Whether `err` is a unique-constraint violation (on either backend).
pub fn is_unique_violation(err: &anyhow::Error) -> bool {
    let postgres = err
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION);
    let sqlite = matches!(err.downcast_ref::<rusqlite::Error>(), Some(rusqlite::Error::SqliteFailure(e, _))
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY);
    postgres || sqlite
}

/// A row of either backend.
#[allow(missing_debug_implementations)] // the drivers' rows are not Debug
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a tokio_postgres::Row),
}

impl Row<'_> {
    /// The column `name`, as a `T`.
    pub fn get<T: Column>(&self, name: &str) -> anyhow::Result<T> {
        match self {
            Self::Sqlite(row) => T::from_sqlite(row, name),
            Self::Postgres(row) => T::from_postgres(row, name),
        }
        .map_err(|e| anyhow::anyhow!("column {name}: {e}"))
    }
}

/// A type a column can be read as, on both backends.
pub trait Column: Sized {
    fn from_sqlite(row: &rusqlite::Row<'_>, name: &str) -> anyhow::Result<Self>;
    fn from_postgres(row: &tokio_postgres::Row, name: &str) -> anyhow::Result<Self>;
}

macro_rules! plain_column {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn from_sqlite(row: &rusqlite::Row<'_>, name: &str) -> anyhow::Result<Self> {
                Ok(row.get(name)?)
            }
            fn from_postgres(row: &tokio_postgres::Row, name: &str) -> anyhow::Result<Self> {
                Ok(row.try_get(name)?)
            }
        }
    )*};
}

plain_column!(String, Option<String>, bool, Option<bool>, f64, Option<f64>);

/// An integer of any width PostgreSQL may hold it in.
fn pg_int(row: &tokio_postgres::Row, name: &str) -> anyhow::Result<Option<i64>> {
    let ty = row
        .columns()
        .iter()
        .find(|c| c.name() == name)
        .map(|c| c.type_().clone())
        .ok_or_else(|| anyhow::anyhow!("no column {name}"))?;
    Ok(match ty {
        Type::INT2 => row.try_get::<_, Option<i16>>(name)?.map(i64::from),
        Type::INT4 => row.try_get::<_, Option<i32>>(name)?.map(i64::from),
        _ => row.try_get(name)?,
    })
}

impl Column for Option<i64> {
    fn from_sqlite(row: &rusqlite::Row<'_>, name: &str) -> anyhow::Result<Self> {
        Ok(row.get(name)?)
    }
    fn from_postgres(row: &tokio_postgres::Row, name: &str) -> anyhow::Result<Self> {
        pg_int(row, name)
    }
}

impl Column for i64 {
    fn from_sqlite(row: &rusqlite::Row<'_>, name: &str) -> anyhow::Result<Self> {
        Ok(row.get(name)?)
    }
    fn from_postgres(row: &tokio_postgres::Row, name: &str) -> anyhow::Result<Self> {
        pg_int(row, name)?.ok_or_else(|| anyhow::anyhow!("NULL"))
    }
}

impl Column for Option<OffsetDateTime> {
    fn from_sqlite(row: &rusqlite::Row<'_>, name: &str) -> anyhow::Result<Self> {
        Ok(row.get::<_, Option<i64>>(name)?.map(clock::from_ms))
    }
    fn from_postgres(row: &tokio_postgres::Row, name: &str) -> anyhow::Result<Self> {
        Ok(row.try_get(name)?)
    }
}

impl Column for OffsetDateTime {
    fn from_sqlite(row: &rusqlite::Row<'_>, name: &str) -> anyhow::Result<Self> {
        Ok(clock::from_ms(row.get(name)?))
    }
    fn from_postgres(row: &tokio_postgres::Row, name: &str) -> anyhow::Result<Self> {
        Ok(row.try_get(name)?)
    }
}

impl Column for Option<Value> {
    fn from_sqlite(row: &rusqlite::Row<'_>, name: &str) -> anyhow::Result<Self> {
        row.get::<_, Option<String>>(name)?
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(Into::into)
    }
    fn from_postgres(row: &tokio_postgres::Row, name: &str) -> anyhow::Result<Self> {
        Ok(row.try_get(name)?)
    }
}

impl Column for Value {
    fn from_sqlite(row: &rusqlite::Row<'_>, name: &str) -> anyhow::Result<Self> {
        Option::<Value>::from_sqlite(row, name)?.ok_or_else(|| anyhow::anyhow!("NULL"))
    }
    fn from_postgres(row: &tokio_postgres::Row, name: &str) -> anyhow::Result<Self> {
        Ok(row.try_get(name)?)
    }
}

/// A connection or transaction of either backend.
// Used only in this crate, from code that is generic over it and instantiated with the
// concrete backends, where the futures' `Send` is known (PostgreSQL's are, SQLite's run
// on its writer thread and need not be).
#[allow(async_fn_in_trait)]
pub trait Db {
    fn dialect(&self) -> Dialect;

    /// Every row `sql` returns, each read by `map`.
    async fn rows<T>(
        &self,
        sql: &str,
        params: &[Param],
        map: impl Fn(&Row<'_>) -> anyhow::Result<T> + Send,
    ) -> anyhow::Result<Vec<T>>;

    /// Runs `sql`; the number of rows it changed.
    async fn execute(&self, sql: &str, params: &[Param]) -> anyhow::Result<u64>;

    /// The first row `sql` returns, if any.
    async fn row<T>(
        &self,
        sql: &str,
        params: &[Param],
        map: impl Fn(&Row<'_>) -> anyhow::Result<T> + Send,
    ) -> anyhow::Result<Option<T>> {
        Ok(self.rows(sql, params, map).await?.into_iter().next())
    }
}

/// `$1, $2, …` as SQLite's `?1, ?2, …` (outside string literals).
fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '$' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => out.push('?'),
            _ => out.push(c),
        }
    }
    out
}

impl Db for rusqlite::Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn rows<T>(
        &self,
        sql: &str,
        params: &[Param],
        map: impl Fn(&Row<'_>) -> anyhow::Result<T> + Send,
    ) -> anyhow::Result<Vec<T>> {
        let mut statement = self.prepare_cached(&sqlite_placeholders(sql))?;
        let mut rows = statement.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(map(&Row::Sqlite(row))?);
        }
        Ok(out)
    }

    async fn execute(&self, sql: &str, params: &[Param]) -> anyhow::Result<u64> {
        let mut statement = self.prepare_cached(&sqlite_placeholders(sql))?;
        Ok(u64::try_from(
            statement.execute(rusqlite::params_from_iter(params))?,
        )?)
    }
}

fn pg_params(params: &[Param]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect()
}

macro_rules! postgres_db {
    ($($t:ty),*) => {$(
        impl Db for $t {
            fn dialect(&self) -> Dialect {
                Dialect::Postgres
            }

            async fn rows<T>(
                &self,
                sql: &str,
                params: &[Param],
                map: impl Fn(&Row<'_>) -> anyhow::Result<T> + Send,
            ) -> anyhow::Result<Vec<T>> {
                let rows = self.query(sql, &pg_params(params)).await?;
                rows.iter().map(|r| map(&Row::Postgres(r))).collect()
            }

            async fn execute(&self, sql: &str, params: &[Param]) -> anyhow::Result<u64> {
                Ok(<$t>::execute(self, sql, &pg_params(params)).await?)
            }
        }
    )*};
}

postgres_db!(tokio_postgres::Client, tokio_postgres::Transaction<'_>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_sqlite_ones_outside_literals() {
        assert_eq!(
            sqlite_placeholders("SELECT '$1' FROM t WHERE a = $1 AND b = $12"),
            "SELECT '$1' FROM t WHERE a = ?1 AND b = ?12"
        );
    }
}
