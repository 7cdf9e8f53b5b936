//! A minimal query builder for statements whose shape depends on the data (filters,
//! multi-row inserts). Placeholders follow the engine: `$1, $2, …` on PostgreSQL, anonymous
//! `?` on SQLite. (sqlx binds a *named* SQLite parameter by looking its name up, a linear
//! scan inside SQLite, which made a 2 000-parameter batch insert quadratic; measured at 10 %
//! of the server's CPU under load.)

use super::Dialect;

use sqlx::any::{Any, AnyArguments};
use sqlx::{Arguments, AssertSqlSafe, Encode, Type};

pub struct Sql {
    text: String,
    args: AnyArguments,
    count: usize,
    dialect: Dialect,
}

impl Sql {
    pub fn new(dialect: Dialect, text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            args: AnyArguments::default(),
            count: 0,
            dialect,
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static,
    {
        self.count += 1;
        match self.dialect {
            Dialect::Sqlite => self.text.push('?'),
            Dialect::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.count.to_string());
            }
        }
        self.args
            .add(value)
            .expect("encoding strings and integers for the Any driver cannot fail");
        self
    }

    /// Appends `(v1, v2, …)` bound to `values`, for `IN` lists.
    pub fn bind_list(&mut self, values: &[String]) -> &mut Self {
        self.push("(");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(value.clone());
        }
        self.push(")")
    }

    pub fn query(self) -> sqlx::query::Query<'static, Any, AnyArguments> {
        sqlx::query_with(AssertSqlSafe(self.text), self.args)
    }
}
