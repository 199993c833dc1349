//! Dates in query parameters (`from`, `to`: `yyyy-MM-dd`, UTC days).

use super::access::ApiDenial;
use crate::errors::ApiError;

/// `yyyy-MM-dd` → the start of that UTC day.
pub fn day(field: &'static str, text: &str) -> Result<accord_core::clock::Timestamp, ApiDenial> {
    let bad = || {
        ApiDenial::from(ApiError::validation(
            field,
            format!("{field} must be a date like 2026-11-28."),
        ))
    };
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<i64>(), d.parse::<i64>()) else {
        return Err(bad());
    };
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let start = accord_core::clock::Timestamp(days * 86_400_000);
    // Reject dates like 2026-02-31 that roll over into another month.
    if !start.rfc3339().starts_with(text) {
        return Err(bad());
    }
    Ok(start)
}
