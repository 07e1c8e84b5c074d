//! Reading comments: `GET /api/v2/tickets/{id}/comments` with cursor or offset paging,
//! either order, and sideloaded authors.

use serde_json::{json, Value};

use super::desk::{Comment, Desk};
use crate::common::{decode_cursor, encode_cursor, parse_page_size, query_param, ApiError};

impl Desk {
    /// `GET /api/v2/tickets/{id}/comments`.
    ///
    /// With `page[size]`, `page[after]` or `page[before]` it answers with cursor
    /// paging (`meta` + `links`); without them with offset paging (`next_page`,
    /// `previous_page`, `count`, honouring `page` and `per_page`), which is what
    /// Zendesk still does for this endpoint when no cursor parameter is given.
    /// `sort=-created_at` or `sort_order=desc` reverses the order (newest first).
    /// `include=users` sideloads the page's comment authors as a top-level `users`
    /// list, as Zendesk's sideloading does.
    pub(crate) fn api_list_comments(
        &self,
        id: u64,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let mut page = self.comments_page(id, query, base)?;
        let wants_users = query
            .iter()
            .any(|(k, v)| k == "include" && v.split(',').any(|i| i.trim() == "users"));
        if wants_users {
            let mut ids: Vec<u64> = page["comments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["author_id"].as_u64())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            let users: Vec<Value> = ids
                .into_iter()
                .filter_map(|uid| self.user_json(uid, base))
                .collect();
            page["users"] = Value::Array(users);
        }
        Ok(page)
    }

    fn comments_page(
        &self,
        id: u64,
        query: &[(String, String)],
        base: &str,
    ) -> Result<Value, ApiError> {
        let t = self.visible_ticket(id)?;
        let q = |k: &str| query_param(query, k);
        let desc = match (q("sort"), q("sort_order")) {
            (Some(s), _) if s.starts_with('-') => true,
            (_, Some(o)) => o.eq_ignore_ascii_case("desc"),
            _ => false,
        };
        let mut ordered: Vec<&Comment> = t.comments.iter().collect();
        if desc {
            ordered.reverse();
        }
        let path = format!("{base}/api/v2/tickets/{id}/comments.json");
        let cursor_mode = ["page[size]", "page[after]", "page[before]"]
            .iter()
            .any(|k| q(k).is_some());
        if cursor_mode {
            cursor_comments(&ordered, desc, query, &path)
        } else {
            offset_comments(&ordered, desc, query, &path)
        }
    }
}

/// A cursor page (`page[size]`, `page[after]`, `page[before]`) of comments already in
/// the asked order, with `meta` and `links`.
fn cursor_comments(
    ordered: &[&Comment],
    desc: bool,
    query: &[(String, String)],
    path: &str,
) -> Result<Value, ApiError> {
    let q = |k: &str| query_param(query, k);
    let size = parse_page_size(q("page[size]"), "page[size]")?;
    // Carry the sort into the links so following them keeps the order.
    let sort_param = match (q("sort"), q("sort_order")) {
        (Some(s), _) => format!("&sort={s}"),
        (None, Some(o)) => format!("&sort_order={o}"),
        _ => String::new(),
    };
    let (page, has_more): (&[&Comment], bool) = if let Some(c) = q("page[before]") {
        let pos = cursor_position(ordered, c, desc, "page[before]")?;
        // Items strictly before the cursor; the page is the last `size` of them.
        let before = &ordered[..pos];
        let start = before.len().saturating_sub(size);
        (&before[start..], start > 0)
    } else {
        let start = match q("page[after]") {
            Some(c) => {
                let pos = cursor_position(ordered, c, desc, "page[after]")?;
                // Skip the cursor's own item when it is still present.
                if ordered
                    .get(pos)
                    .is_some_and(|cm| Some(cm.id) == decode_cursor(c))
                {
                    pos + 1
                } else {
                    pos
                }
            }
            None => 0,
        };
        let after = &ordered[start.min(ordered.len())..];
        let n = after.len().min(size);
        (&after[..n], after.len() > n)
    };
    let after_cursor = page.last().map(|c| encode_cursor(c.id));
    let before_cursor = page.first().map(|c| encode_cursor(c.id));
    // Zendesk keeps `links.next` even on the last page (following it gives an
    // empty page); clients must stop on `meta.has_more`, as the notes say.
    let next = after_cursor
        .as_ref()
        .map(|c| format!("{path}?page%5Bafter%5D={c}&page%5Bsize%5D={size}{sort_param}"));
    let prev = before_cursor
        .as_ref()
        .map(|c| format!("{path}?page%5Bbefore%5D={c}&page%5Bsize%5D={size}{sort_param}"));
    Ok(json!({
        "comments": page.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
        "meta": {
            "has_more": has_more,
            "after_cursor": after_cursor,
            "before_cursor": before_cursor,
        },
        "links": {"next": next, "prev": prev},
    }))
}

/// An offset page (`page`, `per_page`) of comments already in the asked order, with
/// `next_page`, `previous_page` and `count`.
fn offset_comments(
    ordered: &[&Comment],
    desc: bool,
    query: &[(String, String)],
    path: &str,
) -> Result<Value, ApiError> {
    let q = |k: &str| query_param(query, k);
    let per_page = parse_page_size(q("per_page"), "per_page")?;
    let page: usize = match q("page") {
        None => 1,
        Some(p) => p.parse().ok().filter(|p| *p >= 1).ok_or_else(|| {
            ApiError::BadRequest(
                "InvalidPaginationParameter",
                format!("page must be a positive integer, got {p:?}"),
            )
        })?,
    };
    let start = (page - 1).saturating_mul(per_page).min(ordered.len());
    let end = (start + per_page).min(ordered.len());
    let sort_param = if desc { "&sort_order=desc" } else { "" };
    let link = |p: usize| format!("{path}?page={p}&per_page={per_page}{sort_param}");
    Ok(json!({
        "comments": ordered[start..end].iter().map(|c| c.to_json()).collect::<Vec<_>>(),
        "next_page": (end < ordered.len()).then(|| link(page + 1)),
        "previous_page": (page > 1).then(|| link(page - 1)),
        "count": ordered.len(),
    }))
}

/// Index of the first item at or past the cursor in the current order (comment
/// ids grow with creation time, so the id orders them).
fn cursor_position(
    ordered: &[&Comment],
    cursor: &str,
    desc: bool,
    name: &str,
) -> Result<usize, ApiError> {
    let id = decode_cursor(cursor).ok_or_else(|| {
        ApiError::BadRequest("InvalidPaginationParameter", format!("{name} is invalid"))
    })?;
    Ok(ordered
        .iter()
        .position(|c| if desc { c.id <= id } else { c.id >= id })
        .unwrap_or(ordered.len()))
}
