//! The shop's order API, when the brand configures one (setting `shop_api`, the origin
//! allowed in `[brands.NAME.http]`): the order a customer asks about, and refunds up to
//! the brand's `max_refund`. The gateway adds the API's credentials; this code never
//! sees them. What the API said is plain data ([`OrderFacts`]), so the decision stays a
//! pure function.

use gateway_plugin_sdk::http::{self, HttpError};

/// An order as the shop API describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// The order number.
    pub id: u64,
    /// `processing`, `shipped` or `delivered`.
    pub status: String,
    /// The courier.
    pub carrier: Option<String>,
    /// The tracking link.
    pub tracking_url: Option<String>,
    /// When it left the warehouse.
    pub shipped_on: Option<String>,
    /// What the customer paid.
    pub total: f64,
    /// ISO currency.
    pub currency: String,
}

/// What the shop API said about the order the customer asks about.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum OrderFacts {
    /// Not asked (no API configured, no order number, or not a tracking or returns
    /// question).
    #[default]
    NotAsked,
    /// The order.
    Found(Order),
    /// No order with that number.
    NotFound(u64),
    /// The API could not be asked (in words); the canned answer does.
    Unavailable(String),
}

/// What became of a refund the order desk asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Refund {
    /// None asked for.
    #[default]
    NotAsked,
    /// Refunded (or, in Listening Mode, answered by the brand's dry run).
    Done {
        /// The amount.
        amount: f64,
    },
    /// Listening Mode: the refund was not sent.
    NotSent {
        /// The amount it would have refunded.
        amount: f64,
    },
    /// Over the brand's `max_refund`: a human decides.
    OverLimit {
        /// The order's total.
        amount: f64,
        /// The limit.
        limit: f64,
    },
    /// The API refused or failed (in words): a human decides.
    Failed(String),
}

/// The order number a message quotes: digits after `#`, `order`, `order no`, `order
/// number` or a shop prefix such as `SW-`.
pub fn order_number(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let tokens: Vec<&str> = lower
        .split(|c: char| {
            c.is_whitespace() || c == ',' || c == '.' || c == ':' || c == '?' || c == '!'
        })
        .filter(|t| !t.is_empty())
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        let digits = |t: &str| -> Option<u64> {
            let d = t.trim_start_matches('#');
            let d = d.rsplit('-').next().unwrap_or(d);
            (d.len() >= 3 && d.len() <= 12 && d.bytes().all(|b| b.is_ascii_digit()))
                .then(|| d.parse().ok())
                .flatten()
        };
        let after_order = i > 0 && matches!(tokens[i - 1], "order" | "no" | "number" | "#");
        if token.starts_with('#') || token.contains('-') || after_order {
            if let Some(n) = digits(token) {
                return Some(n);
            }
        }
    }
    None
}

/// `GET {api}/orders/{id}`.
pub fn lookup(api: &str, id: u64) -> OrderFacts {
    let url = format!("{}/orders/{id}", api.trim_end_matches('/'));
    match http::get(&url) {
        Ok(r) if r.status == 200 => match parse_order(&r.text()) {
            Some(order) => OrderFacts::Found(order),
            None => {
                OrderFacts::Unavailable("the shop API answered an order it did not describe".into())
            }
        },
        Ok(r) if r.status == 404 => OrderFacts::NotFound(id),
        Ok(r) if r.status == 429 => OrderFacts::Unavailable(format!(
            "the shop API is rate limiting (retry after {} s)",
            r.header("retry-after").unwrap_or("?")
        )),
        Ok(r) => OrderFacts::Unavailable(format!("the shop API answered {}", r.status)),
        Err(e) => OrderFacts::Unavailable(e.to_string()),
    }
}

/// `POST {api}/orders/{id}/refunds` for the whole order, if it is within `limit`.
pub fn refund(api: &str, order: &Order, limit: f64) -> Refund {
    if order.total > limit {
        return Refund::OverLimit {
            amount: order.total,
            limit,
        };
    }
    let url = format!("{}/orders/{}/refunds", api.trim_end_matches('/'), order.id);
    let body = format!("{{\"amount\": {:.2}}}", order.total);
    match http::post_json(&url, &body) {
        Ok(r) if r.status == 200 || r.status == 201 => Refund::Done {
            amount: order.total,
        },
        Ok(r) => Refund::Failed(format!(
            "the shop API answered {}: {}",
            r.status,
            r.text().chars().take(200).collect::<String>()
        )),
        Err(HttpError::ListeningMode(_)) => Refund::NotSent {
            amount: order.total,
        },
        Err(e) => Refund::Failed(e.to_string()),
    }
}

/// The order from the API's JSON (a small reader: the SDK carries no JSON library).
pub fn parse_order(json: &str) -> Option<Order> {
    Some(Order {
        id: number(json, "id")? as u64,
        status: string(json, "status")?,
        carrier: string(json, "carrier"),
        tracking_url: string(json, "tracking_url"),
        shipped_on: string(json, "shipped_on"),
        total: number(json, "total")?,
        currency: string(json, "currency").unwrap_or_else(|| "EUR".into()),
    })
}

fn value_of<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let at = json.find(&format!("\"{key}\""))?;
    let rest = &json[at + key.len() + 2..];
    Some(rest.trim_start().strip_prefix(':')?.trim_start())
}

fn string(json: &str, key: &str) -> Option<String> {
    let v = value_of(json, key)?.strip_prefix('"')?;
    Some(v[..v.find('"')?].to_string())
}

fn number(json: &str, key: &str) -> Option<f64> {
    let v = value_of(json, key)?;
    let end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(v.len());
    v[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_are_found_where_customers_write_them() {
        assert_eq!(order_number("Where is my order 4411?"), Some(4411));
        assert_eq!(order_number("order #4411 never came"), Some(4411));
        assert_eq!(order_number("Order SW-48213"), Some(48213));
        assert_eq!(order_number("my order number: 4413."), Some(4413));
        assert_eq!(order_number("I ordered on the 14th, 2 items"), None);
        assert_eq!(order_number("call me on 0612345678"), None);
    }

    #[test]
    fn orders_parse_from_the_api() {
        let o = parse_order(r#"{"id":4411,"status":"shipped","carrier":"DHL","tracking_url":"https://t/1","shipped_on":"2026-05-11","total":89.9,"currency":"EUR","refunded":0.0}"#).unwrap();
        assert_eq!((o.id, o.status.as_str(), o.total), (4411, "shipped", 89.9));
        assert_eq!(o.carrier.as_deref(), Some("DHL"));
        let p = parse_order(
            r#"{"id":4412,"status":"processing","carrier":null,"total":24.5,"currency":"EUR"}"#,
        )
        .unwrap();
        assert_eq!(p.carrier, None);
    }
}
