//! Query parameters and paging, as every Zendesk list reads and answers them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::ApiError;

/// Zendesk caps every list page at 100 records.
const MAX_PAGE: usize = 100;

/// The value of query parameter `key`, if given.
pub(crate) fn query_param<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A page size parameter (`page[size]`, `per_page`): absent means the maximum.
pub(crate) fn parse_page_size(v: Option<&str>, name: &str) -> Result<usize, ApiError> {
    let Some(v) = v else { return Ok(MAX_PAGE) };
    match v.parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Ok(n) if n > MAX_PAGE => Err(ApiError::BadRequest(
            "InvalidPaginationParameter",
            format!("{name} is greater than the maximum allowed page size of {MAX_PAGE}"),
        )),
        _ => Err(ApiError::BadRequest(
            "InvalidPaginationParameter",
            format!("{name} must be a positive integer"),
        )),
    }
}

/// Offset paging over an already ordered list, as Zendesk's `page` / `per_page`.
pub(crate) fn offset_page(
    items: Vec<Value>,
    key: &str,
    query: &[(String, String)],
    path: &str,
) -> Result<Value, ApiError> {
    let q = |k: &str| query_param(query, k);
    let per_page = parse_page_size(q("per_page"), "per_page")?;
    let page = match q("page") {
        None => 1,
        Some(v) => v.parse::<usize>().ok().filter(|p| *p >= 1).ok_or_else(|| {
            ApiError::BadRequest(
                "InvalidPaginationParameter",
                "page must be a positive integer".to_string(),
            )
        })?,
    };
    let count = items.len();
    let start = (page - 1).saturating_mul(per_page).min(count);
    let end = (start + per_page).min(count);
    let link = |p: usize| format!("{path}?page={p}&per_page={per_page}");
    let mut out = Map::new();
    out.insert(key.to_string(), Value::Array(items[start..end].to_vec()));
    out.insert(
        "next_page".into(),
        json!((end < count).then(|| link(page + 1))),
    );
    out.insert(
        "previous_page".into(),
        json!((page > 1).then(|| link(page - 1))),
    );
    out.insert("count".into(), json!(count));
    Ok(Value::Object(out))
}

/// Cursors are opaque to clients; here they carry a record id (comments use them).
pub(crate) fn encode_cursor(id: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("c:{id}"))
}

/// The record id a cursor made by [`encode_cursor`] carries.
pub(crate) fn decode_cursor(c: &str) -> Option<u64> {
    let raw = URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("c:")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        assert_eq!(decode_cursor(&encode_cursor(10_042)), Some(10_042));
        assert_eq!(decode_cursor("not a cursor"), None);
    }
}
