//! A minimal query builder for statements whose shape depends on the data (filters,
//! multi-row inserts), and the engine-neutral values and rows it works with, so the same
//! statement can run through sqlx (PostgreSQL, SQLite) or on the SQLite writer thread
//! (rusqlite).
//!
//! Placeholders follow the engine: `$1, $2, …` on PostgreSQL, anonymous `?` on SQLite.
//! (sqlx binds a *named* SQLite parameter by looking its name up, a linear scan inside
//! SQLite, which made a 2 000-parameter batch insert quadratic; measured at 10 % of the
//! server's CPU under load.)

use std::sync::Arc;

use sqlx::any::{Any, AnyArguments, AnyRow, AnyTypeInfoKind};
use sqlx::{Arguments, AssertSqlSafe, Column, Row, ValueRef};

use super::{corrupt, Dialect, Result};

/// A bound parameter or a column value: the only types the schema uses. NULLs keep their
/// type because PostgreSQL needs it to type a parameter (in a `VALUES` list, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Int(i64),
    Text(String),
    NullInt,
    NullText,
}

impl From<i64> for SqlValue {
    fn from(value: i64) -> Self {
        SqlValue::Int(value)
    }
}

impl From<String> for SqlValue {
    fn from(value: String) -> Self {
        SqlValue::Text(value)
    }
}

impl From<&str> for SqlValue {
    fn from(value: &str) -> Self {
        SqlValue::Text(value.to_owned())
    }
}

impl From<Option<i64>> for SqlValue {
    fn from(value: Option<i64>) -> Self {
        value.map_or(SqlValue::NullInt, SqlValue::Int)
    }
}

impl From<Option<String>> for SqlValue {
    fn from(value: Option<String>) -> Self {
        value.map_or(SqlValue::NullText, SqlValue::Text)
    }
}

impl From<Option<&str>> for SqlValue {
    fn from(value: Option<&str>) -> Self {
        value.map_or(SqlValue::NullText, Into::into)
    }
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            SqlValue::NullInt | SqlValue::NullText => ValueRef::Null,
            SqlValue::Int(i) => ValueRef::Integer(*i),
            SqlValue::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

pub struct Sql {
    text: String,
    args: Vec<SqlValue>,
    dialect: Dialect,
}

impl Sql {
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
    pub fn bind(&mut self, value: impl Into<SqlValue>) -> &mut Self {
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

    /// Appends `(v1, v2, …)` bound to `values`, for `IN` lists.
    pub fn bind_list(&mut self, values: &[String]) -> &mut Self {
        self.push("(");
        for (i, value) in values.iter().enumerate() {
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

    pub fn args(&self) -> &[SqlValue] {
        &self.args
    }

    pub fn query(self) -> sqlx::query::Query<'static, Any, AnyArguments> {
        let mut args = AnyArguments::default();
        for value in self.args {
            let added = match value {
                SqlValue::NullInt => args.add(None::<i64>),
                SqlValue::NullText => args.add(None::<String>),
                SqlValue::Int(i) => args.add(i),
                SqlValue::Text(s) => args.add(s),
            };
            added.expect("encoding strings and integers for the Any driver cannot fail");
        }
        sqlx::query_with(AssertSqlSafe(self.text), args)
    }
}

/// A result row, read by column name.
#[derive(Debug, Clone)]
pub struct SqlRow {
    columns: Arc<[String]>,
    values: Vec<SqlValue>,
}

impl SqlRow {
    pub fn new(columns: Arc<[String]>, values: Vec<SqlValue>) -> Self {
        SqlRow { columns, values }
    }

    fn value(&self, name: &str) -> Result<&SqlValue> {
        self.columns
            .iter()
            .position(|c| c == name)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| corrupt("missing column", name))
    }

    pub fn opt_text(&self, name: &str) -> Result<Option<String>> {
        match self.value(name)? {
            SqlValue::NullInt | SqlValue::NullText => Ok(None),
            SqlValue::Text(s) => Ok(Some(s.clone())),
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
                            AnyTypeInfoKind::Text => SqlValue::Text(row.try_get(i)?),
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
