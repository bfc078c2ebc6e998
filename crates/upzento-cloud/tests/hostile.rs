//! Hostile input over every operation of the OpenAPI document, on both backends: NUL
//! characters, invalid UTF-8, malformed percent-encoding, long and deeply nested bodies,
//! bad cursors, wrong methods. Generated from `/openapi.json`, so an endpoint added later
//! is covered without touching this file. Every answer must be the documented JSON error
//! (or a success), never a 5xx, and a connection that was answered early stays usable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::client::admin;
use common::{Backend, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(every_operation_answers_hostile_input_with_a_json_error);

/// Operations the generated cases leave alone: revoking the run's own token would turn
/// the rest into 401s, and the event stream stays open when it is accepted.
const SKIPPED: &[(&str, &str)] = &[
    ("delete", "/phone-sms/auth/token"),
    ("get", "/phone-sms/events"),
];

struct Probe {
    http: reqwest::Client,
    base: String,
    token: String,
    requests: usize,
    /// Extra headers on every request.
    headers: Vec<(String, String)>,
}

/// What a request got back.
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Probe {
    async fn send(
        &mut self,
        method: &Method,
        path_and_query: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Answer {
        self.requests += 1;
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path_and_query}", self.base))
            .bearer_auth(&self.token);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let what = format!("{method} {path_and_query:.200}");
        // One client for every case: a connection answered early (413, 415) must either
        // be closed by the server saying so, or stay usable.
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: the request failed: {e:?}"));
        let status = response.status();
        let json = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        let text = response.text().await.unwrap();
        assert!(!status.is_server_error(), "{what}: {status} {text:.300}");
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_client_error() {
            assert!(
                json && body["code"].is_string() && body["message"].is_string(),
                "{what}: {status} is not the JSON error: {text:.300}"
            );
        }
        Answer { status, body }
    }
}

fn expect_invalid_text(answer: &Answer, what: &str) {
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_text")),
        "{what}: {}",
        answer.body
    );
}

/// The properties a JSON body of this operation may have (its schema, `$ref` followed).
fn body_properties(doc: &Value, operation: &Value) -> Option<Vec<String>> {
    let mut schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    if schema.is_null() {
        return None;
    }
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        schema = &doc["components"]["schemas"][name];
    }
    Some(
        schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_else(|| vec!["x".to_owned()]),
    )
}

fn with_path_params(path: &str, value: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                value
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn every_operation_answers_hostile_input_with_a_json_error(backend: Backend) {
    let server = start(backend).await;
    let admin = admin(&server).await;
    let doc = serde_json::to_value(upzento_cloud::api::openapi()).unwrap();
    let token = admin.token().to_owned();
    let mut probe = Probe {
        http: reqwest::Client::new(),
        base: server.url.clone(),
        token,
        requests: 0,
        headers: Vec::new(),
    };
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let methods: Vec<&str> = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| item[*m].is_object())
            .collect();
        // A method the path does not have: 405 as JSON.
        let missing = ["put", "patch", "delete", "post"]
            .into_iter()
            .find(|m| !methods.contains(m))
            .unwrap();
        let answer = probe
            .send(
                &Method::from_bytes(missing.to_uppercase().as_bytes()).unwrap(),
                &with_path_params(path, "x"),
                None,
            )
            .await;
        assert_eq!(
            answer.body["code"].as_str(),
            Some("method_not_allowed"),
            "{missing} {path}"
        );
        for name in methods {
            if SKIPPED.contains(&(name, path.as_str())) {
                continue;
            }
            operations += 1;
            let method = Method::from_bytes(name.to_uppercase().as_bytes()).unwrap();
            let operation = &item[name];
            let what = format!("{name} {path}");
            let has_params = path.contains('{');
            if has_params {
                let answer = probe
                    .send(&method, &with_path_params(path, "%00"), None)
                    .await;
                expect_invalid_text(&answer, &format!("{what} with NUL in the path"));
                for bad in ["%FF%FE", "a%2Fb", &"a".repeat(5000), "-1", "%20"] {
                    probe
                        .send(&method, &with_path_params(path, bad), None)
                        .await;
                }
            }
            let target = with_path_params(path, "x");
            let queries: Vec<String> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            for query in &queries {
                let answer = probe
                    .send(&method, &format!("{target}?{query}=a%00b"), None)
                    .await;
                expect_invalid_text(&answer, &format!("{what} with NUL in {query}"));
                let mut bad = vec![
                    "%FF%FE".to_owned(),
                    "a".repeat(4000),
                    "-1".to_owned(),
                    "99999999999999999999".to_owned(),
                ];
                if query == "cursor" {
                    bad.extend(
                        [
                            "-1000.abc",
                            "999999999999999999.x",
                            "253402300800000.x",
                            "0.x",
                            ".",
                            "1.",
                        ]
                        .map(str::to_owned),
                    );
                }
                for value in bad {
                    probe
                        .send(&method, &format!("{target}?{query}={value}"), None)
                        .await;
                }
            }
            let Some(properties) = body_properties(&doc, operation) else {
                continue;
            };
            let json_type = "application/json";
            // NUL in any field, and in a key.
            for property in &properties {
                let body = json!({ property: "a\u{0}b" });
                let answer = probe
                    .send(
                        &method,
                        &target,
                        Some((json_type, body.to_string().into_bytes())),
                    )
                    .await;
                expect_invalid_text(&answer, &format!("{what} with NUL in {property}"));
            }
            let nested = json!({"tags": ["ok", {"deep": ["a\u{0}"]}]});
            let answer = probe
                .send(
                    &method,
                    &target,
                    Some((json_type, nested.to_string().into_bytes())),
                )
                .await;
            expect_invalid_text(&answer, &format!("{what} with NUL deep inside"));
            // Every field very long; invalid UTF-8; nesting deeper than any parser should
            // follow; larger than the body limit; not JSON at all; an empty body.
            let long: serde_json::Map<String, Value> = properties
                .iter()
                .map(|p| {
                    (
                        p.clone(),
                        Value::String("é".repeat(20_000 / properties.len().max(1))),
                    )
                })
                .collect();
            let cases: Vec<(&str, Vec<u8>)> = vec![
                (json_type, Value::Object(long).to_string().into_bytes()),
                (json_type, b"{\"name\": \"\xff\xfe\"}".to_vec()),
                (json_type, "[".repeat(100_000).into_bytes()),
                (
                    json_type,
                    format!("{{\"x\": \"{}\"}}", "a".repeat(300 * 1024)).into_bytes(),
                ),
                ("text/plain", b"{}".to_vec()),
                (json_type, Vec::new()),
                (json_type, b"[1, 2]".to_vec()),
                (json_type, b"null".to_vec()),
            ];
            for body in cases {
                probe.send(&method, &target, Some(body)).await;
            }
        }
    }
    assert!(
        operations > 30,
        "the document lists the API ({operations} operations)"
    );
    // Percent-encoding the HTTP layer cannot read, on a path with no parameter.
    probe
        .send(&Method::GET, "/phone-sms/contacts/%FF%FE", None)
        .await;
    eprintln!(
        "{} hostile requests over {operations} operations",
        probe.requests
    );
}
