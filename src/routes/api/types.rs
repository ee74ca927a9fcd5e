//! Request field types stricter than poem-openapi's defaults, shared by
//! the API's areas: [`param_type!`] for query and path parameters parsed by
//! a function, bounded whole numbers, the page size and the keyset cursor.

use std::borrow::Cow;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

use crate::db::cursor::{Cursor, RowId};

/// A JSON string and nothing else. poem-openapi's `String` quietly turns
/// `false` or `42` into text; a request that sends a number where the schema
/// says string gets a 400 here, as the schema promises.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StrictString(pub String);

impl Deref for StrictString {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Type for StrictString {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for StrictString {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => Ok(StrictString(s)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for StrictString {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// Implements poem-openapi's parameter traits for a newtype parsed by
/// `$parse` (which returns the reason a value is refused).
#[macro_export]
macro_rules! param_type {
    ($ty:ty, $name:expr, $schema:expr, $parse:expr) => {
        impl poem_openapi::types::Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                poem_openapi::registry::MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl poem_openapi::types::ParseFromParameter for $ty {
            fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
                let parse: fn(&str) -> Result<$ty, String> = $parse;
                parse(value).map_err(poem_openapi::types::ParseError::custom)
            }
        }
    };
}

/// A whole number within bounds, with a default (for `limit` and `days`).
#[macro_export]
macro_rules! bounded_param {
    ($(#[$doc:meta])* $ty:ident, $min:expr, $max:expr, $default:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $ty(pub u32);

        impl Default for $ty {
            fn default() -> Self {
                $ty($default)
            }
        }

        impl poem_openapi::types::ToJSON for $ty {
            fn to_json(&self) -> Option<serde_json::Value> {
                Some(serde_json::Value::from(self.0))
            }
        }

        $crate::param_type!(
            $ty,
            "integer(bounded)",
            poem_openapi::registry::MetaSchema {
                minimum: Some(f64::from($min)),
                maximum: Some(f64::from($max)),
                ..poem_openapi::registry::MetaSchema::new_with_format("integer", "int32")
            },
            |raw| {
                raw.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| ($min..=$max).contains(n))
                    .map($ty)
                    .ok_or_else(|| {
                        format!("must be a whole number from {} to {}", $min, $max)
                    })
            }
        );
    };
}

bounded_param!(
    /// Page size of the evidence list and the notifications.
    PageLimit,
    1u32,
    200u32,
    50
);

/// `next_cursor` of the previous page, passed back unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorParam<I: RowId>(pub Cursor<I>);

impl<I: RowId + Send + Sync + 'static> Type for CursorParam<I> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(cursor)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            min_length: Some(Cursor::<I>::ENCODED_LEN),
            max_length: Some(Cursor::<I>::ENCODED_LEN),
            pattern: Some("^[A-Za-z0-9_-]+$".to_owned()),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl<I: RowId + Send + Sync + 'static> ParseFromParameter for CursorParam<I> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Cursor::decode(value).map(CursorParam).ok_or_else(|| {
            ParseError::custom("is not a cursor: pass next_cursor from the previous page unchanged")
        })
    }
}

/// The largest tree size accepted in a parameter (2^53 - 1: exact in JSON
/// numbers, far beyond any practice's log).
pub const MAX_TREE_SIZE: u64 = (1 << 53) - 1;

/// A tree size (a number of leaves) in a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeSize(pub u64);

impl poem_openapi::types::ToJSON for TreeSize {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::from(self.0))
    }
}

crate::param_type!(
    TreeSize,
    "integer(tree_size)",
    poem_openapi::registry::MetaSchema {
        minimum: Some(0.0),
        maximum: Some(MAX_TREE_SIZE as f64),
        ..poem_openapi::registry::MetaSchema::new_with_format("integer", "int64")
    },
    |raw| {
        raw.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_TREE_SIZE)
            .map(TreeSize)
            .ok_or_else(|| format!("must be a number of leaves from 0 to {MAX_TREE_SIZE}"))
    }
);

/// A calendar date in a JSON body: `YYYY-MM-DD`, documented as
/// `format: date` (which tools know; poem-openapi's own `naive-date` they
/// do not, and send an empty string as valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day(pub chrono::NaiveDate);

impl Type for Day {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(date)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            example: Some("2026-06-30".into()),
            ..MetaSchema::new_with_format("string", "date")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for Day {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .ok()
                .filter(|_| s.len() == 10)
                .map(Day)
                .ok_or_else(|| {
                    ParseError::custom(format!(
                        "{s:?} is not a date: give YYYY-MM-DD, e.g. 2026-06-30"
                    ))
                }),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for Day {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.format("%Y-%m-%d").to_string()))
    }
}
