//! Small helpers to read portable columns back into model values.

use accord_core::clock::Timestamp;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::{Result, StoreError};

pub fn text(row: &AnyRow, column: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(column)?)
}

pub fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(column)?)
}

pub fn bytes(row: &AnyRow, column: &str) -> Result<Vec<u8>> {
    Ok(row.try_get::<Vec<u8>, _>(column)?)
}

pub fn int(row: &AnyRow, column: &str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(column)?)
}

pub fn time(row: &AnyRow, column: &str) -> Result<Timestamp> {
    Ok(Timestamp(int(row, column)?))
}

pub fn opt_time(row: &AnyRow, column: &str) -> Result<Option<Timestamp>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(Timestamp))
}

pub fn flag(row: &AnyRow, column: &str) -> Result<bool> {
    Ok(int(row, column)? != 0)
}

pub fn json<T: DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T> {
    let raw = text(row, column)?;
    serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

/// Parses a stored value with a model parser, reporting corruption instead of panicking.
pub fn parsed<T, E: std::fmt::Display>(
    row: &AnyRow,
    column: &str,
    parse: impl FnOnce(String) -> std::result::Result<T, E>,
) -> Result<T> {
    let raw = text(row, column)?;
    parse(raw).map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data always serializes")
}
