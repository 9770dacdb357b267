//! One query API over both backends: `query(SQL).bind(..).execute(c)`, `query_as::<T>`,
//! `query_scalar::<T>`, with `$1`-style placeholders that both accept.
//!
//! PostgreSQL runs on sqlx. SQLite runs on rusqlite, statement by statement on the calling
//! thread: sqlx's SQLite driver hands every statement to a worker thread and back, which
//! measured ≈ 15–18 µs per statement against ≈ 2 µs in-thread (docs/BENCHMARKS.md), and the
//! single SQLite writer is the bottleneck of every write. SQLite statements are short and never
//! wait on the network, so running them inline in an async task costs less than the hand-off.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, Postgres};

use crate::{Backend, Conn, StoreError, StoreResult};

/// The SQL type of a bound value; PostgreSQL needs it even for NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Int4,
    Bool,
    Text,
    Time,
    Date,
    /// An array of `BIGINT`: see [`Value::Ints`].
    Ints,
}

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null(Kind),
    Int(i64),
    Int4(i32),
    Bool(bool),
    Text(String),
    Time(DateTime<Utc>),
    Date(NaiveDate),
    /// A list of integers, for `col = ANY($1)` on PostgreSQL (one statement text, prepared
    /// once, whatever the list's length). SQLite has no arrays: there it binds as JSON text,
    /// read with `col IN (SELECT value FROM json_each($1))`.
    Ints(Vec<i64>),
    /// A column of values of one kind (NULLs allowed), bound as one PostgreSQL array: a
    /// statement that reads rows from `unnest($2::BIGINT[], $3::TEXT[], …)` has one text
    /// whatever the number of rows, so it is prepared (parsed and planned) once per
    /// connection instead of for every batch. Made by [`column`], read with [`unnest`].
    /// SQLite has no arrays: there it binds as a JSON array, read with `json_each` (as
    /// [`one_of`] does).
    Column(Kind, Vec<Value>),
}

/// The values of one column of several rows, as one parameter (see [`Value::Column`]).
pub fn column<T: ToValue>(values: impl IntoIterator<Item = T>) -> Value {
    Value::Column(T::KIND, values.into_iter().map(ToValue::into_value).collect())
}

/// Anything that can be bound as a parameter.
pub trait ToValue {
    const KIND: Kind;
    fn to_value(&self) -> Value;
    /// The value, taken rather than copied where it is one already.
    fn into_value(self) -> Value
    where
        Self: Sized,
    {
        self.to_value()
    }
}

macro_rules! to_value {
    ($ty:ty, $kind:ident, |$v:ident| $make:expr) => {
        impl ToValue for $ty {
            const KIND: Kind = Kind::$kind;
            fn to_value(&self) -> Value {
                let $v = self;
                $make
            }
        }
    };
}
to_value!(i64, Int, |v| Value::Int(*v));
to_value!(i32, Int4, |v| Value::Int4(*v));
to_value!(bool, Bool, |v| Value::Bool(*v));
to_value!(str, Text, |v| Value::Text(v.to_string()));
to_value!(DateTime<Utc>, Time, |v| Value::Time(*v));
to_value!(NaiveDate, Date, |v| Value::Date(*v));
to_value!([i64], Ints, |v| Value::Ints(v.to_vec()));
to_value!(Vec<i64>, Ints, |v| Value::Ints(v.clone()));

impl ToValue for String {
    const KIND: Kind = Kind::Text;
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
    fn into_value(self) -> Value {
        Value::Text(self)
    }
}

impl<T: ToValue> ToValue for Option<T> {
    const KIND: Kind = T::KIND;
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null(T::KIND),
        }
    }
    fn into_value(self) -> Value {
        match self {
            Some(v) => v.into_value(),
            None => Value::Null(T::KIND),
        }
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    const KIND: Kind = T::KIND;
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl ToValue for Value {
    const KIND: Kind = Kind::Text;
    fn to_value(&self) -> Value {
        self.clone()
    }
    fn into_value(self) -> Value {
        self
    }
}

/// Timestamps are stored in SQLite as fixed-width RFC 3339 text (microseconds, UTC), so that
/// text order is time order.
pub fn sqlite_time(t: &DateTime<Utc>) -> String {
    // The same text as the format "%Y-%m-%dT%H:%M:%S%.6f+00:00", without interpreting a format
    // string for every bound timestamp (≈ 2% of a till sale's CPU under load).
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

fn parse_sqlite_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null(_) => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::Int(v) => ToSqlOutput::Owned((*v).into()),
            Value::Int4(v) => ToSqlOutput::Owned(i64::from(*v).into()),
            Value::Bool(v) => ToSqlOutput::Owned(i64::from(*v).into()),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Time(v) => ToSqlOutput::Owned(sqlite_time(v).into()),
            Value::Date(v) => ToSqlOutput::Owned(v.format("%Y-%m-%d").to_string().into()),
            Value::Ints(v) => ToSqlOutput::Owned(json_ints(v).into()),
            Value::Column(_, values) => ToSqlOutput::Owned(json_column(values)?.into()),
        })
    }
}

/// The values of a [`Value::Column`] as the Rust type of its kind; an error names a value of
/// another kind.
fn typed<'v, T>(
    values: &'v [Value],
    pick: impl Fn(&'v Value) -> Option<T>,
) -> Result<Vec<Option<T>>, sqlx::error::BoxDynError> {
    values
        .iter()
        .map(|v| match v {
            Value::Null(_) => Ok(None),
            other => pick(other)
                .map(Some)
                .ok_or_else(|| format!("a column of values holds {other:?}").into()),
        })
        .collect()
}

fn add_pg(args: &mut PgArguments, v: &Value) -> Result<(), sqlx::error::BoxDynError> {
    match v {
        Value::Null(Kind::Int) => args.add(None::<i64>),
        Value::Null(Kind::Int4) => args.add(None::<i32>),
        Value::Null(Kind::Bool) => args.add(None::<bool>),
        Value::Null(Kind::Text) => args.add(None::<String>),
        Value::Null(Kind::Time) => args.add(None::<DateTime<Utc>>),
        Value::Null(Kind::Date) => args.add(None::<NaiveDate>),
        Value::Null(Kind::Ints) => args.add(None::<Vec<i64>>),
        Value::Int(v) => args.add(*v),
        Value::Int4(v) => args.add(*v),
        Value::Bool(v) => args.add(*v),
        Value::Text(v) => args.add(v.as_str()),
        Value::Time(v) => args.add(*v),
        Value::Date(v) => args.add(*v),
        Value::Ints(v) => args.add(v.as_slice()),
        Value::Column(kind, v) => match kind {
            Kind::Int => args.add(typed(v, |v| if let Value::Int(i) = v { Some(*i) } else { None })?),
            Kind::Int4 => args.add(typed(v, |v| if let Value::Int4(i) = v { Some(*i) } else { None })?),
            Kind::Bool => args.add(typed(v, |v| if let Value::Bool(b) = v { Some(*b) } else { None })?),
            Kind::Text => args.add(typed(
                v,
                |v| if let Value::Text(t) = v { Some(t.as_str()) } else { None },
            )?),
            Kind::Time => args.add(typed(v, |v| if let Value::Time(t) = v { Some(*t) } else { None })?),
            Kind::Date => args.add(typed(v, |v| if let Value::Date(d) = v { Some(*d) } else { None })?),
            Kind::Ints => Err("a column of arrays cannot be bound".into()),
        },
    }
}

/// How SQLite receives a [`Value::Column`]: a JSON array of its values.
fn json_column(values: &[Value]) -> rusqlite::Result<String> {
    let json: Vec<serde_json::Value> = values
        .iter()
        .map(|v| match v {
            Value::Null(_) => Ok(serde_json::Value::Null),
            Value::Int(i) => Ok((*i).into()),
            Value::Int4(i) => Ok((*i).into()),
            Value::Bool(b) => Ok(i64::from(*b).into()),
            Value::Text(t) => Ok(t.as_str().into()),
            Value::Time(t) => Ok(sqlite_time(t).into()),
            Value::Date(d) => Ok(d.format("%Y-%m-%d").to_string().into()),
            Value::Ints(_) | Value::Column(..) => Err(rusqlite::Error::ToSqlConversionFailure(
                "a column of lists cannot be bound".into(),
            )),
        })
        .collect::<rusqlite::Result<_>>()?;
    Ok(serde_json::Value::Array(json).to_string())
}

/// `[1,2,3]`: how SQLite receives a list of integers (see [`Value::Ints`]).
fn json_ints(values: &[i64]) -> String {
    let mut text = String::with_capacity(2 + values.len() * 8);
    text.push('[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&v.to_string());
    }
    text.push(']');
    text
}

/// A column index both drivers understand: a name or a position.
pub trait ColumnIndex: rusqlite::RowIndex + sqlx::ColumnIndex<PgRow> + Copy + std::fmt::Debug {
    /// The column's position in a SQLite row. rusqlite finds a name by asking SQLite for each
    /// column's name in turn: resolved once here, so that reading an `Option` (null check,
    /// then value) does not search twice.
    fn sqlite_position(self, row: &rusqlite::Row<'_>) -> rusqlite::Result<usize>;
}
impl ColumnIndex for &str {
    fn sqlite_position(self, row: &rusqlite::Row<'_>) -> rusqlite::Result<usize> {
        row.as_ref().column_index(self)
    }
}
impl ColumnIndex for usize {
    fn sqlite_position(self, _row: &rusqlite::Row<'_>) -> rusqlite::Result<usize> {
        Ok(self)
    }
}

/// A row of either backend.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a PgRow),
}

impl Row<'_> {
    /// The column `name`, which is probably the `position`-th (a struct's fields usually follow
    /// the table's columns): checking that first spares SQLite's linear search by name.
    pub fn get_at<T: Column>(&self, position: usize, name: &str) -> StoreResult<T> {
        if let Row::Sqlite(r) = self {
            if r.as_ref().column_name(position).is_ok_and(|n| n == name) {
                return self.get(position);
            }
        }
        self.get(name)
    }

    pub fn get<T: Column, I: ColumnIndex>(&self, index: I) -> StoreResult<T> {
        match self {
            Row::Sqlite(r) => index
                .sqlite_position(r)
                .map_err(BoxError::from)
                .and_then(|position| T::from_sqlite(r, position))
                .map_err(|e| decode_error(index, e)),
            Row::Postgres(r) => T::from_postgres(r, index).map_err(|e| decode_error(index, e)),
        }
    }
}

fn decode_error(index: impl std::fmt::Debug, err: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("decoding column {index:?}: {err}").into())
}

/// A value that can be read from a column of either backend.
pub trait Column: Sized {
    fn from_sqlite<I: ColumnIndex>(row: &rusqlite::Row<'_>, index: I) -> Result<Self, BoxError>;
    fn from_postgres<I: ColumnIndex>(row: &PgRow, index: I) -> Result<Self, BoxError>;
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

macro_rules! column {
    ($ty:ty) => {
        impl Column for $ty {
            fn from_sqlite<I: ColumnIndex>(row: &rusqlite::Row<'_>, index: I) -> Result<Self, BoxError> {
                Ok(row.get::<_, $ty>(index)?)
            }
            fn from_postgres<I: ColumnIndex>(row: &PgRow, index: I) -> Result<Self, BoxError> {
                Ok(sqlx::Row::try_get::<$ty, _>(row, index)?)
            }
        }
    };
}
column!(i64);
column!(i32);
column!(bool);
column!(String);

impl Column for DateTime<Utc> {
    fn from_sqlite<I: ColumnIndex>(row: &rusqlite::Row<'_>, index: I) -> Result<Self, BoxError> {
        let text: String = row.get(index)?;
        parse_sqlite_time(&text).ok_or_else(|| format!("not a timestamp: {text}").into())
    }
    fn from_postgres<I: ColumnIndex>(row: &PgRow, index: I) -> Result<Self, BoxError> {
        Ok(sqlx::Row::try_get::<DateTime<Utc>, _>(row, index)?)
    }
}

impl Column for NaiveDate {
    fn from_sqlite<I: ColumnIndex>(row: &rusqlite::Row<'_>, index: I) -> Result<Self, BoxError> {
        let text: String = row.get(index)?;
        Ok(NaiveDate::parse_from_str(&text, "%Y-%m-%d")?)
    }
    fn from_postgres<I: ColumnIndex>(row: &PgRow, index: I) -> Result<Self, BoxError> {
        Ok(sqlx::Row::try_get::<NaiveDate, _>(row, index)?)
    }
}

impl<T: Column> Column for Option<T> {
    fn from_sqlite<I: ColumnIndex>(row: &rusqlite::Row<'_>, index: I) -> Result<Self, BoxError> {
        match row.get_ref(index)? {
            ValueRef::Null => Ok(None),
            _ => T::from_sqlite(row, index).map(Some),
        }
    }
    fn from_postgres<I: ColumnIndex>(row: &PgRow, index: I) -> Result<Self, BoxError> {
        if sqlx::ValueRef::is_null(&sqlx::Row::try_get_raw(row, index)?) {
            Ok(None)
        } else {
            T::from_postgres(row, index).map(Some)
        }
    }
}

/// A type built from a whole row: structs by column name (`#[derive(FromRow)]`), tuples by
/// position.
pub trait FromRow: Sized {
    fn from_row(row: &Row<'_>) -> StoreResult<Self>;
}

macro_rules! tuple_from_row {
    ($($name:ident: $index:tt),+) => {
        impl<$($name: Column),+> FromRow for ($($name,)+) {
            fn from_row(row: &Row<'_>) -> StoreResult<Self> {
                Ok(($(row.get::<$name, usize>($index)?,)+))
            }
        }
    };
}
tuple_from_row!(A: 0);
tuple_from_row!(A: 0, B: 1);
tuple_from_row!(A: 0, B: 1, C: 2);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11, M: 12);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11, M: 12, N: 13);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11, M: 12, N: 13, O: 14);
tuple_from_row!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11, M: 12, N: 13, O: 14, P: 15);

/// Statement texts that depend on a count alone (the rows of a multi-row insert), built once
/// per count and kept for the life of the process, the statement kept prepared with them.
/// Formatting hundreds of placeholders for each batch, and parsing its statement again, was
/// ≈ 5 % of the server's CPU under the order benchmark, most of it while holding SQLite's one
/// writer (docs/BENCHMARKS.md, session 19). Past [`ByCount::KEPT`] rows (large imports, huge
/// orders) the text is built for the one use and not kept prepared ([`Query::once`]).
pub struct ByCount {
    texts: [OnceLock<String>; ByCount::KEPT + 1],
    build: fn(usize) -> String,
}

impl ByCount {
    /// Counts up to this are kept: a batch of order work is at most 32 orders, a few lines each.
    pub const KEPT: usize = 64;

    pub const fn new(build: fn(usize) -> String) -> Self {
        Self {
            texts: [const { OnceLock::new() }; ByCount::KEPT + 1],
            build,
        }
    }

    /// The text for `n` rows.
    pub fn text(&'static self, n: usize) -> Cow<'static, str> {
        match self.texts.get(n) {
            Some(kept) => Cow::Borrowed(kept.get_or_init(|| (self.build)(n)).as_str()),
            None => Cow::Owned((self.build)(n)),
        }
    }

    /// The statement for `n` rows, to bind.
    pub fn query(&'static self, n: usize) -> Query<'static> {
        let mut q = query(self.text(n));
        q.once = n > Self::KEPT;
        q
    }

    /// [`ByCount::query`] returning rows of `O`.
    pub fn query_as<O: FromRow>(&'static self, n: usize) -> QueryAs<'static, O> {
        QueryAs {
            query: self.query(n),
            out: PhantomData,
        }
    }
}

/// A statement with its bound parameters.
#[must_use = "a query does nothing until it is run"]
pub struct Query<'q> {
    sql: Cow<'q, str>,
    args: Vec<Value>,
    /// Not kept prepared: see [`Query::once`].
    once: bool,
}

pub fn query<'q>(sql: impl Into<Cow<'q, str>>) -> Query<'q> {
    Query {
        sql: sql.into(),
        args: Vec::new(),
        once: false,
    }
}

pub fn query_as<'q, O: FromRow>(sql: impl Into<Cow<'q, str>>) -> QueryAs<'q, O> {
    QueryAs {
        query: query(sql),
        out: PhantomData,
    }
}

pub fn query_scalar<'q, O: Column>(sql: impl Into<Cow<'q, str>>) -> QueryScalar<'q, O> {
    QueryScalar {
        query: query(sql),
        out: PhantomData,
    }
}

impl<'q> Query<'q> {
    pub fn bind(mut self, value: impl ToValue) -> Self {
        self.args.push(value.into_value());
        self
    }

    /// Binds every value of an iterator, in order (multi-row inserts).
    pub fn bind_all<V: ToValue>(mut self, values: impl IntoIterator<Item = V>) -> Self {
        self.args.extend(values.into_iter().map(ToValue::into_value));
        self
    }

    /// Marks a statement whose text is built for one use (values spelled out in it): it is not
    /// kept in the connection's cache of prepared statements, where it would push out the
    /// statements that are used again.
    pub fn once(mut self) -> Self {
        self.once = true;
        self
    }

    /// Runs the statement; the number of rows it changed.
    pub async fn execute(self, c: &mut Conn<'_>) -> StoreResult<u64> {
        match c {
            Conn::Sqlite(conn) => {
                let mut stmt = prepare(conn, &self.sql, &self.args)?;
                let mut rows = stmt.raw_query();
                while rows.next()?.is_some() {}
                drop(rows);
                if self.once {
                    stmt.discard();
                }
                Ok(conn.changes())
            }
            Conn::Postgres(conn) => {
                let args = pg_args(&self.args)?;
                let done = sqlx::query_with::<Postgres, _>(&self.sql, args)
                    .persistent(!self.once)
                    .execute(&mut **conn)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    }

    /// Runs the statement and hands each row to `each`, in order: for reads whose rows repeat
    /// values (an order on each of its items' rows) that the caller decodes once.
    pub async fn for_each_row(
        self,
        c: &mut Conn<'_>,
        each: impl FnMut(&Row<'_>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        self.rows(c, None, each).await.map(drop)
    }

    async fn rows<O>(
        self,
        c: &mut Conn<'_>,
        limit: Option<usize>,
        mut decode: impl FnMut(&Row<'_>) -> StoreResult<O>,
    ) -> StoreResult<Vec<O>> {
        let mut out = Vec::new();
        match c {
            Conn::Sqlite(conn) => {
                let mut stmt = prepare(conn, &self.sql, &self.args)?;
                let mut rows = stmt.raw_query();
                while let Some(row) = rows.next()? {
                    out.push(decode(&Row::Sqlite(row))?);
                    if limit.is_some_and(|n| out.len() >= n) {
                        break;
                    }
                }
            }
            Conn::Postgres(conn) => {
                let args = pg_args(&self.args)?;
                let q = sqlx::query_with::<Postgres, _>(&self.sql, args).persistent(!self.once);
                if limit == Some(1) {
                    if let Some(row) = q.fetch_optional(&mut **conn).await? {
                        out.push(decode(&Row::Postgres(&row))?);
                    }
                } else {
                    for row in q.fetch_all(&mut **conn).await? {
                        out.push(decode(&Row::Postgres(&row))?);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Prepares (from the connection's statement cache) and binds a SQLite statement. SQLite reads
/// `$1` as a *named* parameter whose index is its order of first appearance, so each parameter
/// is bound by the number in its name (`… $2 … $1 …` works as on PostgreSQL). Looking a name
/// up is linear in the statement's parameters, so long statements (multi-row inserts with
/// thousands of parameters) are rewritten to `?N`, which SQLite binds by number directly.
fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    args: &[Value],
) -> StoreResult<rusqlite::CachedStatement<'c>> {
    let numbered = sql.len() > LONG_STATEMENT;
    let mut stmt = if numbered {
        conn.prepare_cached(&sqlite_placeholders(sql))?
    } else {
        conn.prepare_cached(sql)?
    };
    let expected = stmt.parameter_count();
    if args.len() != expected {
        return Err(StoreError::Database(
            format!("statement takes {expected} parameters, {} bound", args.len()).into(),
        ));
    }
    for index in 1..=expected {
        let position = if numbered {
            Some(index)
        } else {
            match stmt.parameter_name(index) {
                Some(name) => name.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()),
                None => Some(index),
            }
        };
        let arg = position
            .and_then(|p| args.get(p.wrapping_sub(1)))
            .ok_or_else(|| StoreError::Database(format!("parameter {index} of the statement is not bound").into()))?;
        stmt.raw_bind_parameter(index, arg)?;
    }
    Ok(stmt)
}

/// `column` is one of the list bound as parameter `n` ([`Value::Ints`] or a [`column`]):
/// `= ANY($n)` on PostgreSQL, which binds the list as an array; `IN (SELECT value FROM
/// json_each($n))` on SQLite, which binds it as JSON text. One statement text whatever the
/// list's length.
pub fn one_of(backend: Backend, column: &str, n: usize) -> String {
    match backend {
        Backend::Postgres => format!("{column} = ANY(${n})"),
        Backend::Sqlite => format!("{column} IN (SELECT value FROM json_each(${n}))"),
    }
}

/// `($first, …), (…), …`: the placeholders of a multi-row `VALUES` list of `rows` rows with
/// `width` parameters each, numbered from `first` on.
pub fn value_rows(rows: usize, width: usize, first: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(rows * width * 6);
    for row in 0..rows {
        out.push_str(if row == 0 { "(" } else { ", (" });
        for n in 0..width {
            let sep = if n == 0 { "" } else { ", " };
            let _ = write!(out, "{sep}${}", first + row * width + n);
        }
        out.push(')');
    }
    out
}

/// `unnest($first::BIGINT[], $…::TEXT[], …)`: the rows of `columns` ([`column`]s bound in this
/// order from `first` on), each array typed by its column's kind, so the text and the binding
/// cannot disagree.
pub fn unnest(first: usize, columns: &[Value]) -> String {
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let array = match column {
                Value::Column(Kind::Int, _) | Value::Ints(_) => "BIGINT[]",
                Value::Column(Kind::Int4, _) => "INTEGER[]",
                Value::Column(Kind::Bool, _) => "BOOLEAN[]",
                Value::Column(Kind::Time, _) => "TIMESTAMPTZ[]",
                Value::Column(Kind::Date, _) => "DATE[]",
                _ => "TEXT[]",
            };
            format!("${}::{array}", first + i)
        })
        .collect();
    format!("unnest({})", arrays.join(", "))
}

/// Statements longer than this (bytes) bind by number; see [`prepare`].
const LONG_STATEMENT: usize = 1024;

/// `$N` → `?N` outside string literals, quoted identifiers and comments.
fn sqlite_placeholders(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<u8> = None;
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'-' && bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            None if b == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push_str(&sql[last..i]);
                out.push('?');
                last = i + 1;
            }
            None => {}
        }
        i += 1;
    }
    out.push_str(&sql[last..]);
    out
}

fn pg_args(values: &[Value]) -> StoreResult<PgArguments> {
    let mut args = PgArguments::default();
    for v in values {
        add_pg(&mut args, v).map_err(|e| StoreError::Database(e.to_string().into()))?;
    }
    Ok(args)
}

/// A query whose rows decode into `O`.
#[must_use = "a query does nothing until it is run"]
pub struct QueryAs<'q, O> {
    query: Query<'q>,
    out: PhantomData<fn() -> O>,
}

impl<'q, O: FromRow> QueryAs<'q, O> {
    pub fn bind(mut self, value: impl ToValue) -> Self {
        self.query = self.query.bind(value);
        self
    }

    pub fn bind_all<V: ToValue>(mut self, values: impl IntoIterator<Item = V>) -> Self {
        self.query = self.query.bind_all(values);
        self
    }

    /// See [`Query::once`].
    pub fn once(mut self) -> Self {
        self.query = self.query.once();
        self
    }

    pub async fn fetch_all(self, c: &mut Conn<'_>) -> StoreResult<Vec<O>> {
        self.query.rows(c, None, O::from_row).await
    }

    pub async fn fetch_optional(self, c: &mut Conn<'_>) -> StoreResult<Option<O>> {
        Ok(self.query.rows(c, Some(1), O::from_row).await?.pop())
    }

    /// The first row; [`StoreError::NotFound`] when there is none.
    pub async fn fetch_one(self, c: &mut Conn<'_>) -> StoreResult<O> {
        self.fetch_optional(c).await?.ok_or(StoreError::NotFound)
    }
}

/// A query whose first column decodes into `O`.
#[must_use = "a query does nothing until it is run"]
pub struct QueryScalar<'q, O> {
    query: Query<'q>,
    out: PhantomData<fn() -> O>,
}

impl<'q, O: Column> QueryScalar<'q, O> {
    pub fn bind(mut self, value: impl ToValue) -> Self {
        self.query = self.query.bind(value);
        self
    }

    pub fn bind_all<V: ToValue>(mut self, values: impl IntoIterator<Item = V>) -> Self {
        self.query = self.query.bind_all(values);
        self
    }

    /// See [`Query::once`].
    pub fn once(mut self) -> Self {
        self.query = self.query.once();
        self
    }

    pub async fn fetch_all(self, c: &mut Conn<'_>) -> StoreResult<Vec<O>> {
        self.query.rows(c, None, |r| r.get(0usize)).await
    }

    pub async fn fetch_optional(self, c: &mut Conn<'_>) -> StoreResult<Option<O>> {
        Ok(self.query.rows(c, Some(1), |r| r.get(0usize)).await?.pop())
    }

    pub async fn fetch_one(self, c: &mut Conn<'_>) -> StoreResult<O> {
        self.fetch_optional(c).await?.ok_or(StoreError::NotFound)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn timestamps_are_fixed_width_rfc3339_in_utc() {
        use chrono::{DateTime, Utc};
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        for (time, text, stored) in [
            (
                "2026-12-05T18:33:14.000000123Z",
                "2026-12-05T18:33:14.000000+00:00",
                "2026-12-05T18:33:14Z",
            ),
            (
                "2011-01-02T03:04:05.5+02:00",
                "2011-01-02T01:04:05.500000+00:00",
                "2011-01-02T01:04:05.5Z",
            ),
            (
                "0001-01-01T00:00:00Z",
                "0001-01-01T00:00:00.000000+00:00",
                "0001-01-01T00:00:00Z",
            ),
        ] {
            assert_eq!(super::sqlite_time(&at(time)), text);
            assert_eq!(super::parse_sqlite_time(text), Some(at(stored)));
        }
    }
    use super::{prepare, sqlite_placeholders, Value};

    #[test]
    fn binds_integer_lists_as_json_on_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let args = [Value::Ints(vec![3, 1, 2]), Value::Ints(Vec::new())];
        let mut stmt = prepare(
            &conn,
            "SELECT (SELECT group_concat(value) FROM json_each($1)), (SELECT count(*) FROM json_each($2))",
            &args,
        )
        .unwrap();
        let mut rows = stmt.raw_query();
        let row = rows.next().unwrap().unwrap();
        assert_eq!(row.get::<_, String>(0).unwrap(), "3,1,2");
        assert_eq!(row.get::<_, i64>(1).unwrap(), 0);
    }

    #[test]
    fn binds_columns_as_json_arrays_on_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let args = [super::column(["a\"b", "c"]), super::column([Some(1_i64), None])];
        let mut stmt = prepare(
            &conn,
            "SELECT (SELECT group_concat(value, '|') FROM json_each($1)),
                    (SELECT count(*) FROM json_each($2) WHERE value IS NULL)",
            &args,
        )
        .unwrap();
        let mut rows = stmt.raw_query();
        let row = rows.next().unwrap().unwrap();
        assert_eq!(row.get::<_, String>(0).unwrap(), "a\"b|c");
        assert_eq!(row.get::<_, i64>(1).unwrap(), 1);
    }

    #[test]
    fn numbers_multi_row_values() {
        assert_eq!(super::value_rows(2, 3, 2), "($2, $3, $4), ($5, $6, $7)");
        assert_eq!(super::value_rows(1, 1, 1), "($1)");
        assert_eq!(super::value_rows(0, 3, 1), "");
    }

    #[test]
    fn keeps_texts_by_count_up_to_its_limit() {
        use super::ByCount;
        use std::borrow::Cow;
        static ROWS: ByCount = ByCount::new(|n| format!("VALUES {}", super::value_rows(n, 2, 1)));
        let (first, again) = (ROWS.text(3), ROWS.text(3));
        assert_eq!(first, "VALUES ($1, $2), ($3, $4), ($5, $6)");
        match (first, again) {
            (Cow::Borrowed(a), Cow::Borrowed(b)) => assert!(std::ptr::eq(a, b), "built once"),
            _ => panic!("a count up to the limit is kept"),
        }
        assert!(!ROWS.query(ByCount::KEPT).once, "kept prepared");
        let past = ByCount::KEPT + 1;
        assert!(matches!(ROWS.text(past), Cow::Owned(_)), "built for the one use");
        assert!(ROWS.query(past).once, "not kept prepared");
        assert_eq!(ROWS.text(past), format!("VALUES {}", super::value_rows(past, 2, 1)));
    }

    #[test]
    fn rewrites_placeholders_outside_literals() {
        assert_eq!(sqlite_placeholders("SELECT $2, $1"), "SELECT ?2, ?1");
        assert_eq!(
            sqlite_placeholders("SELECT '$1', \"$2\", $3"),
            "SELECT '$1', \"$2\", ?3"
        );
        assert_eq!(sqlite_placeholders("SELECT 1 -- $1\n, $10"), "SELECT 1 -- $1\n, ?10");
    }

    #[test]
    fn binds_long_statements_by_number() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let padding = " ".repeat(super::LONG_STATEMENT);
        let args = [Value::Int(1), Value::Text("two".into())];
        let mut stmt = prepare(&conn, &format!("SELECT $2, $1{padding}"), &args).unwrap();
        let mut rows = stmt.raw_query();
        let row = rows.next().unwrap().unwrap();
        assert_eq!(row.get::<_, String>(0).unwrap(), "two");
        assert_eq!(row.get::<_, i64>(1).unwrap(), 1);
    }

    #[test]
    fn binds_dollar_parameters_by_number() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let args = [Value::Int(1), Value::Text("two".into())];
        let mut stmt = prepare(&conn, "SELECT $2, $1, $2", &args).unwrap();
        let mut rows = stmt.raw_query();
        let row = rows.next().unwrap().unwrap();
        assert_eq!(row.get::<_, String>(0).unwrap(), "two");
        assert_eq!(row.get::<_, i64>(1).unwrap(), 1);
        drop(rows);
        assert!(prepare(&conn, "SELECT $1", &args).is_err(), "one argument too many");
        let mut anonymous = prepare(&conn, "SELECT ?, ?", &args).unwrap();
        let mut rows = anonymous.raw_query();
        assert_eq!(rows.next().unwrap().unwrap().get::<_, i64>(0).unwrap(), 1);
    }
}
