//! Bad input at the HTTP edge gets a clear answer and changes nothing.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_answers() {
    let mut h = Harness::start().await;
    let base = h.gw().url();

    // Unknown token: 404 with a JSON error, same as any unknown path.
    let r = h
        .post("no-such-token-000000000000000000", r#"{"id": 1}"#)
        .await;
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    let r = h.http.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // Malformed bodies: 400 with a message that says what is wrong.
    for (body, expect) in [
        ("not json", "not valid JSON"),
        (r#"{"ticket": 5}"#, "\"id\""),
        (r#"{"id": 0}"#, "positive"),
        (r#"{"id": -4}"#, "positive"),
        (r#"{"id": "abc"}"#, "positive"),
        ("", "JSON"),
    ] {
        let r = h.post(TRIAGE_TOKEN, body).await;
        assert_eq!(r.status(), 400, "body {body:?}");
        let json: serde_json::Value = r.json().await.unwrap();
        assert_eq!(json["error"], "malformed_body");
        assert!(
            json["detail"].as_str().unwrap().contains(expect),
            "{body:?} -> {json}"
        );
    }

    // Over 64 KiB: 413.
    let huge = format!(r#"{{"id": 1, "pad": "{}"}}"#, "x".repeat(70 * 1024));
    let r = h.post(TRIAGE_TOKEN, huge).await;
    assert_eq!(r.status(), 413);

    // Health.
    let r = h.http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = h.http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // None of it reached the inbox or Zendesk.
    assert_eq!(h.gw().gateway.inbox.depth().unwrap(), 0);
    assert!(h
        .sim
        .calls()
        .iter()
        .all(|c| !c.path.starts_with("/api/v2/tickets")));

    // Admin endpoints need the admin token, and then show the plugins.
    let r = h
        .http
        .get(format!("{base}/admin/plugins"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = h
        .http
        .get(format!("{base}/admin/plugins"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    let brands: Vec<&str> = body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["brand"].as_str().unwrap())
        .collect();
    assert_eq!(brands, ["orders", "triage"]);
    h.stop().await;
}
