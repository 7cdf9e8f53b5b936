//! A minimal query builder for statements whose shape depends on the data (filters,
//! multi-row inserts), and the engine-neutral values and rows it works with, so the same
//! statement can run through sqlx (PostgreSQL, SQLite) or on the SQLite writer thread
//! (rusqlite).
//!
//! Placeholders follow the engine: `$1, $2, …` on PostgreSQL, anonymous `?` on SQLite.
//! (sqlx binds a *named* SQLite parameter by looking its name up, a linear scan inside
//! SQLite, which made a 2 000-parameter batch insert quadratic; measured at 10 % of the
//! server's CPU under load.)

use std::borrow::Cow;
use std::sync::Arc;

use sqlx::any::{Any, AnyArguments, AnyRow, AnyTypeInfoKind};
use sqlx::{Arguments, AssertSqlSafe, Column, Row, ValueRef};

use super::{corrupt, Dialect, Result};

/// A bound parameter or a column value: the only types the schema uses. NULLs keep their
/// type because PostgreSQL needs it to type a parameter (in a `VALUES` list, say).
///
/// Text may be borrowed from the job that binds it: on the SQLite writer thread a statement
/// runs while its job is alive, and copying every id and header text first was 5 % of that
/// thread's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue<'a> {
    Int(i64),
    Text(Cow<'a, str>),
    NullInt,
    NullText,
}

impl From<i64> for SqlValue<'_> {
    fn from(value: i64) -> Self {
        SqlValue::Int(value)
    }
}

impl From<String> for SqlValue<'_> {
    fn from(value: String) -> Self {
        SqlValue::Text(Cow::Owned(value))
    }
}

impl<'a> From<&'a str> for SqlValue<'a> {
    fn from(value: &'a str) -> Self {
        SqlValue::Text(Cow::Borrowed(value))
    }
}

impl From<Option<i64>> for SqlValue<'_> {
    fn from(value: Option<i64>) -> Self {
        value.map_or(SqlValue::NullInt, SqlValue::Int)
    }
}

impl From<Option<String>> for SqlValue<'_> {
    fn from(value: Option<String>) -> Self {
        value.map_or(SqlValue::NullText, Into::into)
    }
}

impl<'a> From<Option<&'a str>> for SqlValue<'a> {
    fn from(value: Option<&'a str>) -> Self {
        value.map_or(SqlValue::NullText, Into::into)
    }
}

impl rusqlite::ToSql for SqlValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            SqlValue::NullInt | SqlValue::NullText => ValueRef::Null,
            SqlValue::Int(i) => ValueRef::Integer(*i),
            SqlValue::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

pub struct Sql<'a> {
    text: String,
    args: Vec<SqlValue<'a>>,
    dialect: Dialect,
}

impl<'a> Sql<'a> {
    pub fn new(dialect: Dialect, text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
            dialect,
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<SqlValue<'a>>) -> &mut Self {
        self.args.push(value.into());
        match self.dialect {
            Dialect::Sqlite => self.text.push('?'),
            Dialect::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.args.len().to_string());
            }
        }
        self
    }

    /// Appends `(v1, v2, …)` bound to `values`, for `IN` lists. The list is padded to a
    /// power of two by repeating its last value (which changes nothing in an `IN`), so
    /// lists of any length make few distinct statements for the statement caches.
    pub fn bind_list(&mut self, values: &'a [String]) -> &mut Self {
        self.push("(");
        let Some(last) = values.last() else {
            // `IN ()` is a syntax error on both engines; `IN (NULL)` matches nothing.
            return self.push("NULL)");
        };
        let padding = values.len().next_power_of_two() - values.len();
        let padded = values.iter().chain(std::iter::repeat_n(last, padding));
        for (i, value) in padded.enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(value.as_str());
        }
        self.push(")")
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn args(&self) -> &[SqlValue<'a>] {
        &self.args
    }

    pub fn query(self) -> sqlx::query::Query<'static, Any, AnyArguments> {
        let mut args = AnyArguments::default();
        for value in self.args {
            let added = match value {
                SqlValue::NullInt => args.add(None::<i64>),
                SqlValue::NullText => args.add(None::<String>),
                SqlValue::Int(i) => args.add(i),
                SqlValue::Text(s) => args.add(s.into_owned()),
            };
            added.expect("encoding strings and integers for the Any driver cannot fail");
        }
        sqlx::query_with(AssertSqlSafe(self.text), args)
    }
}

/// The same statement for many rows of `WIDTH` values, e.g. `INSERT INTO t (a, b) VALUES `.
///
/// Where every statement is a round trip (PostgreSQL through sqlx) the rows go in
/// multi-row statements, `{head}(…), (…){tail}`, in chunks whose sizes are powers of two
/// so the server's prepared-statement cache sees few distinct texts. In process (the
/// SQLite writer thread) each row runs one cached one-row statement instead: that skips
/// parsing a new text per batch and SQLite's statement journal, which it keeps only for
/// statements that change several rows.
pub struct Rows<'a, const WIDTH: usize> {
    head: &'static str,
    tail: &'static str,
    one_row: Option<&'static str>,
    max_per_statement: usize,
    rows: Vec<[SqlValue<'a>; WIDTH]>,
}

impl<'a, const WIDTH: usize> Rows<'a, WIDTH> {
    /// `max_per_statement` bounds the multi-row statements (bind-parameter limits); it is
    /// rounded down to a power of two.
    pub fn new(head: &'static str, max_per_statement: usize) -> Self {
        Rows {
            head,
            tail: "",
            one_row: None,
            max_per_statement: prev_power_of_two(max_per_statement.max(1)),
            rows: Vec::new(),
        }
    }

    /// What follows the row list in a multi-row statement.
    pub fn tail(mut self, tail: &'static str) -> Self {
        self.tail = tail;
        self
    }

    /// The one-row statement, for when it is not simply `{head}(?, …){tail}`: SQLite
    /// syntax, with the row's values as `?1`…`?WIDTH` in order.
    pub fn one_row(mut self, sql: &'static str) -> Self {
        self.one_row = Some(sql);
        self
    }

    pub fn push(&mut self, row: [SqlValue<'a>; WIDTH]) {
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The one-row statement (SQLite syntax).
    pub fn one_row_sql(&self) -> String {
        match self.one_row {
            Some(sql) => sql.to_owned(),
            None => {
                let placeholders = vec!["?"; WIDTH].join(", ");
                format!("{}({placeholders}){}", self.head, self.tail)
            }
        }
    }

    pub fn rows(&self) -> &[[SqlValue<'a>; WIDTH]] {
        &self.rows
    }

    /// The multi-row statements, in the rows' order.
    pub fn into_statements(self, dialect: Dialect) -> Vec<Sql<'a>> {
        let mut statements = Vec::new();
        let mut rows = self.rows.into_iter();
        let mut left = rows.len();
        while left > 0 {
            let size = prev_power_of_two(left).min(self.max_per_statement);
            let mut sql = Sql::new(dialect, self.head);
            for (i, row) in rows.by_ref().take(size).enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                for (j, value) in row.into_iter().enumerate() {
                    if j > 0 {
                        sql.push(", ");
                    }
                    sql.bind(value);
                }
                sql.push(")");
            }
            sql.push(self.tail);
            statements.push(sql);
            left -= size;
        }
        statements
    }
}

/// Each id once, sorted: for an `IN` list.
pub(super) fn distinct(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The largest power of two not above `n` (which must be at least 1).
pub(super) fn prev_power_of_two(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.leading_zeros())
}

/// A result row, read by column name.
#[derive(Debug, Clone)]
pub struct SqlRow {
    columns: Arc<[String]>,
    values: Vec<SqlValue<'static>>,
}

impl SqlRow {
    pub fn new(columns: Arc<[String]>, values: Vec<SqlValue<'static>>) -> Self {
        SqlRow { columns, values }
    }

    fn value(&self, name: &str) -> Result<&SqlValue<'static>> {
        self.columns
            .iter()
            .position(|c| c == name)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| corrupt("missing column", name))
    }

    pub fn opt_text(&self, name: &str) -> Result<Option<String>> {
        match self.value(name)? {
            SqlValue::NullInt | SqlValue::NullText => Ok(None),
            SqlValue::Text(s) => Ok(Some(s.clone().into_owned())),
            SqlValue::Int(_) => Err(corrupt("expected text in column", name)),
        }
    }

    pub fn text(&self, name: &str) -> Result<String> {
        self.opt_text(name)?
            .ok_or_else(|| corrupt("unexpected NULL in column", name))
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        match self.value(name)? {
            SqlValue::NullInt | SqlValue::NullText => Ok(None),
            SqlValue::Int(i) => Ok(Some(*i)),
            SqlValue::Text(_) => Err(corrupt("expected an integer in column", name)),
        }
    }

    pub fn int(&self, name: &str) -> Result<i64> {
        self.opt_int(name)?
            .ok_or_else(|| corrupt("unexpected NULL in column", name))
    }

    /// Converts sqlx rows (all from one statement, so they share their column names).
    pub fn from_any(rows: &[AnyRow]) -> Result<Vec<SqlRow>> {
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let columns: Arc<[String]> = first.columns().iter().map(|c| c.name().into()).collect();
        rows.iter()
            .map(|row| {
                let values = (0..columns.len())
                    .map(|i| {
                        let raw = row.try_get_raw(i)?;
                        if raw.is_null() {
                            return Ok(SqlValue::NullText);
                        }
                        Ok(match raw.type_info().kind() {
                            AnyTypeInfoKind::Text => SqlValue::from(row.try_get::<String, _>(i)?),
                            AnyTypeInfoKind::BigInt => SqlValue::Int(row.try_get(i)?),
                            AnyTypeInfoKind::Integer => {
                                SqlValue::Int(row.try_get::<i32, _>(i)?.into())
                            }
                            AnyTypeInfoKind::SmallInt => {
                                SqlValue::Int(row.try_get::<i16, _>(i)?.into())
                            }
                            AnyTypeInfoKind::Bool => {
                                SqlValue::Int(row.try_get::<bool, _>(i)?.into())
                            }
                            other => {
                                return Err(corrupt("unexpected column type", format!("{other:?}")))
                            }
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(SqlRow::new(columns.clone(), values))
            })
            .collect()
    }
}
