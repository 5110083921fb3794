//! The statement layer under [`Tx`](super::Tx): run SQL with typed
//! parameters and decode rows, on either backend.
//!
//! SQL is written once, PostgreSQL style (`$1`, `$2`, …). The SQLite side
//! rewrites `$n` to SQLite's own numbered form `?n`, which binds the same
//! parameter wherever it appears.
//!
//! - PostgreSQL runs through sqlx on a pooled connection.
//! - SQLite runs through rusqlite, synchronously, on the thread that owns the
//!   connection: the writer thread or a reader thread. Its futures never
//!   wait, so a whole transaction costs no thread hand-off per statement.

use std::borrow::Cow;
use std::future::Future;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use sqlx::types::Json;

use super::{Result, StoreError};

/// One bound parameter. Every variant carries its SQL type, so a `NULL`
/// still tells PostgreSQL what it is.
#[derive(Debug, Clone)]
pub enum Param<'a> {
    /// `text`.
    Text(Option<&'a str>),
    /// `bigint`.
    Int(Option<i64>),
    /// `integer`.
    Int32(Option<i32>),
    /// `boolean` (an integer on SQLite).
    Bool(bool),
    /// `timestamptz` (RFC 3339 text in UTC on SQLite).
    Time(Option<DateTime<Utc>>),
    /// `bytea` (a blob on SQLite).
    Bytes(&'a [u8]),
    /// `jsonb` (text on SQLite), already serialised.
    Json(Option<Cow<'a, str>>),
}

impl Param<'_> {
    /// A JSON parameter.
    ///
    /// # Errors
    /// When `value` cannot be serialised.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self> {
        serde_json::to_string(value)
            .map(|s| Param::Json(Some(Cow::Owned(s))))
            .map_err(|e| StoreError::Decode(format!("cannot encode JSON: {e}")))
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Param::Text(v.as_deref())
    }
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}

impl From<i32> for Param<'_> {
    fn from(v: i32) -> Self {
        Param::Int32(Some(v))
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

impl From<DateTime<Utc>> for Param<'_> {
    fn from(v: DateTime<Utc>) -> Self {
        Param::Time(Some(v))
    }
}

impl From<Option<DateTime<Utc>>> for Param<'_> {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Param::Time(v)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Bytes(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Param::Bytes(v)
    }
}

/// Builds a `[Param; N]` from values that convert into [`Param`].
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        [$($crate::store::exec::Param::from($v)),*]
    };
}
pub(crate) use params;

/// Runs statements on one connection.
pub trait Exec: Send {
    /// PostgreSQL (`true`) or SQLite, for the few statements whose dialects
    /// differ.
    const POSTGRES: bool;
    /// Runs a statement and returns how many rows it changed.
    fn execute(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<u64>> + Send;
    /// Runs a query and decodes every row.
    fn fetch_all<R: FromRecord>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Vec<R>>> + Send;
}

/// A row type decoded by column position.
pub trait FromRecord: Sized + Send {
    /// Decodes one row.
    ///
    /// # Errors
    /// When a column has another type than expected.
    fn from_record<R: Record>(r: &R) -> Result<Self>;
}

/// One result row of either backend.
pub trait Record {
    /// The value of column `i` (from 0).
    ///
    /// # Errors
    /// When the column has another type than `T`.
    fn get<T: Column>(&self, i: usize) -> Result<T>;
}

impl Record for rusqlite::Row<'_> {
    fn get<T: Column>(&self, i: usize) -> Result<T> {
        T::from_sqlite(self, i)
    }
}

impl Record for PgRow {
    fn get<T: Column>(&self, i: usize) -> Result<T> {
        T::from_pg(self, i)
    }
}

/// A column value either backend can decode.
pub trait Column: Sized {
    /// From a SQLite row.
    ///
    /// # Errors
    /// When the stored value has another type.
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self>;
    /// From a PostgreSQL row.
    ///
    /// # Errors
    /// When the stored value has another type.
    fn from_pg(row: &PgRow, i: usize) -> Result<Self>;
}

/// Types both drivers decode natively.
macro_rules! native_column {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
                Ok(row.get(i)?)
            }
            fn from_pg(row: &PgRow, i: usize) -> Result<Self> {
                Ok(row.try_get(i)?)
            }
        }
    )*};
}

native_column!(String, Option<String>, i64, Option<i64>, i32, bool, Vec<u8>);

impl Column for DateTime<Utc> {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        parse_time(&row.get::<_, String>(i)?)
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Self> {
        Ok(row.try_get(i)?)
    }
}

impl Column for Option<DateTime<Utc>> {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        row.get::<_, Option<String>>(i)?
            .map(|s| parse_time(&s))
            .transpose()
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Self> {
        Ok(row.try_get(i)?)
    }
}

/// A JSON column read back as its text, for callers that decode it
/// themselves (and quarantine what no longer decodes).
#[derive(Debug, Clone)]
pub struct JsonText(pub String);

impl Column for JsonText {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        Ok(Self(row.get(i)?))
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Self> {
        let raw: Json<Box<serde_json::value::RawValue>> = row.try_get(i)?;
        Ok(Self(raw.0.get().to_owned()))
    }
}

/// Decodes the JSON text of column `i`.
fn json_column<T: DeserializeOwned>(text: &str, i: usize) -> Result<Json<T>> {
    serde_json::from_str(text)
        .map(Json)
        .map_err(|e| StoreError::Decode(format!("column {i} holds bad JSON: {e}")))
}

impl<T: DeserializeOwned> Column for Json<T> {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        json_column(&row.get::<_, String>(i)?, i)
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Self> {
        Ok(row.try_get(i)?)
    }
}

impl<T: DeserializeOwned> Column for Option<Json<T>> {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        row.get::<_, Option<String>>(i)?
            .map(|t| json_column(&t, i))
            .transpose()
    }
    fn from_pg(row: &PgRow, i: usize) -> Result<Self> {
        Ok(row.try_get(i)?)
    }
}

macro_rules! tuple_record {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Column + Send),+> FromRecord for ($($t,)+) {
            fn from_record<R: Record>(r: &R) -> Result<Self> {
                Ok(($(r.get::<$t>($i)?,)+))
            }
        }
    };
}

tuple_record!(A 0);
tuple_record!(A 0, B 1);

/// The text form of a time on SQLite: RFC 3339 in UTC with microseconds,
/// fixed width, so text order is time order.
pub fn format_time(t: DateTime<Utc>) -> String {
    use chrono::{Datelike as _, Timelike as _};
    let year = t.year();
    // Years outside four digits and leap seconds take the general path.
    if !(0..=9999).contains(&year) || t.nanosecond() >= 1_000_000_000 {
        return t.to_rfc3339_opts(SecondsFormat::Micros, true);
    }
    // Written digit by digit: every stored row carries two times, and the
    // general formatter is a measurable part of a write.
    let micros = t.timestamp_subsec_micros();
    let mut out = [0u8; 27];
    let mut put = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year.unsigned_abs());
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    put(20, 6, micros);
    for (at, sep) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        out[at] = sep;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Decode(format!("bad stored time {s:?}: {e}")))
}

/// Rewrites `$n` placeholders to SQLite's `?n`.
fn sqlite_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    Cow::Owned(sql.replace('$', "?"))
}

fn bind_sqlite(stmt: &mut rusqlite::CachedStatement<'_>, params: &[Param<'_>]) -> Result<()> {
    use rusqlite::types::{ToSqlOutput, Value, ValueRef};
    for (n, p) in params.iter().enumerate() {
        let i = n + 1;
        let v: ToSqlOutput<'_> = match p {
            Param::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::Int(Some(v)) => ToSqlOutput::Owned(Value::Integer(*v)),
            Param::Int32(Some(v)) => ToSqlOutput::Owned(Value::Integer(i64::from(*v))),
            Param::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            Param::Time(Some(t)) => ToSqlOutput::Owned(Value::Text(format_time(*t))),
            Param::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Param::Json(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::Text(None)
            | Param::Int(None)
            | Param::Int32(None)
            | Param::Time(None)
            | Param::Json(None) => ToSqlOutput::Owned(Value::Null),
        };
        stmt.raw_bind_parameter(i, v)?;
    }
    Ok(())
}

impl Exec for rusqlite::Connection {
    const POSTGRES: bool = false;

    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let mut stmt = self.prepare_cached(&sqlite_sql(sql))?;
        bind_sqlite(&mut stmt, params)?;
        Ok(stmt.raw_execute()? as u64)
    }

    async fn fetch_all<R: FromRecord>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<R>> {
        let mut stmt = self.prepare_cached(&sqlite_sql(sql))?;
        bind_sqlite(&mut stmt, params)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(R::from_record(row)?);
        }
        Ok(out)
    }
}

fn bind_pg<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    params: &'q [Param<'q>],
) -> Result<sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>> {
    for p in params {
        q = match p {
            Param::Text(v) => q.bind(*v),
            Param::Int(v) => q.bind(*v),
            Param::Int32(v) => q.bind(*v),
            Param::Bool(v) => q.bind(*v),
            Param::Time(v) => q.bind(*v),
            Param::Bytes(v) => q.bind(*v),
            Param::Json(v) => {
                let raw = v
                    .as_ref()
                    .map(|s| serde_json::value::RawValue::from_string(s.to_string()))
                    .transpose()
                    .map_err(|e| StoreError::Decode(format!("bad JSON parameter: {e}")))?;
                q.bind(raw.map(Json))
            }
        };
    }
    Ok(q)
}

impl Exec for sqlx::PgConnection {
    const POSTGRES: bool = true;

    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let q = bind_pg(sqlx::query(sqlx::AssertSqlSafe(sql)), params)?;
        Ok(q.execute(&mut *self).await?.rows_affected())
    }

    async fn fetch_all<R: FromRecord>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<R>> {
        let q = bind_pg(sqlx::query(sqlx::AssertSqlSafe(sql)), params)?;
        let rows = q.fetch_all(&mut *self).await?;
        rows.iter().map(R::from_record).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_sqlite_numbered_parameters() {
        assert_eq!(
            sqlite_sql("SELECT $1, $12 WHERE x = $1"),
            "SELECT ?1, ?12 WHERE x = ?1"
        );
        assert!(matches!(sqlite_sql("SELECT 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn stored_times_sort_as_text_and_read_back() {
        let a = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.000001Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("time");
        let b = a + chrono::Duration::microseconds(999_999);
        let (ta, tb) = (format_time(a), format_time(b));
        assert_eq!(ta.len(), tb.len());
        assert!(ta < tb);
        assert_eq!(parse_time(&ta).expect("parse"), a);
    }

    #[test]
    fn stored_times_match_the_rfc3339_form() {
        for text in [
            "2026-11-29T10:40:48.123456Z",
            "2026-01-02T03:04:05Z",
            "1999-12-31T23:59:59.999999999Z",
            "0001-01-01T00:00:00.000001Z",
            "9999-12-31T23:59:59.5Z",
        ] {
            let t = DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .expect("time");
            assert_eq!(
                format_time(t),
                t.to_rfc3339_opts(SecondsFormat::Micros, true),
                "{text}"
            );
        }
    }

    #[tokio::test]
    async fn sqlite_binds_each_type_and_decodes_it() {
        let mut c = rusqlite::Connection::open_in_memory().expect("open");
        c.execute_batch("CREATE TABLE t (s TEXT, n INTEGER, b INTEGER, at TEXT, raw BLOB, j TEXT)")
            .expect("create");
        let now = Utc::now();
        let p = [
            Param::from("x"),
            Param::from(7_i64),
            Param::from(true),
            Param::from(now),
            Param::from(&b"\x00\x01"[..]),
            Param::json(&vec!["a"]).expect("json"),
        ];
        let n = Exec::execute(&mut c, "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6)", &p)
            .await
            .expect("insert");
        assert_eq!(n, 1);
        let rows: Vec<(String, i64)> = c
            .fetch_all("SELECT s, n FROM t WHERE b = $1", &[Param::from(true)])
            .await
            .expect("select");
        assert_eq!(rows, vec![("x".to_owned(), 7)]);
        let rows: Vec<(DateTime<Utc>, Json<Vec<String>>)> = c
            .fetch_all("SELECT at, j FROM t", &[])
            .await
            .expect("select");
        assert_eq!(rows[0].1.0, vec!["a".to_owned()]);
        assert_eq!(format_time(rows[0].0), format_time(now));
        let nulls: Vec<(Option<String>,)> = c
            .fetch_all("SELECT $1", &[Param::Text(None)])
            .await
            .expect("null");
        assert_eq!(nulls, vec![(None,)]);
    }
}
