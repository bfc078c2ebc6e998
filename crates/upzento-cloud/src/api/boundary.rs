//! What every request and answer passes through, whatever route it takes: text with
//! NUL characters is refused before it can reach storage (PostgreSQL cannot hold it,
//! SQLite can: refusing it at the door makes both backends answer alike), and every
//! error, including those of the HTTP layer (405, 413, 415, a malformed path), is
//! answered as the documented `{code, message}` JSON.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::AppError;

/// The refusal of text holding U+0000, at `field` when it is in a body.
pub fn nul_refused(field: Option<String>) -> AppError {
    AppError::BadRequest {
        code: "invalid_text",
        message: "Text must not contain the NUL character (U+0000).".into(),
        field,
    }
}

/// Where in a JSON document a string (or a key) holds U+0000: `a.b[2]`, or `""` at the top.
pub fn find_nul(value: &Value) -> Option<String> {
    fn walk(value: &Value, path: &mut String) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            Value::Object(map) => map.iter().any(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key.replace('\0', "\u{FFFD}"));
                let found = key.contains('\0') || walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then_some(path)
}

/// Whether a percent-encoded URI part decodes to a NUL.
fn has_encoded_nul(part: &str) -> bool {
    part.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// The longest URL and header section we read. Larger ones are refused here, as JSON, well
/// below the limits past which hyper answers by itself (a bare 414 over 64 KiB of URL, 431
/// over its read buffer, 400 for what is not HTTP), with no body we could shape.
const URI_MAX: usize = 8 * 1024;
const HEADERS_MAX: usize = 32 * 1024;

/// The layer around every route.
pub async fn guard(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let uri_bytes = uri.path().len() + uri.query().map_or(0, |q| q.len() + 1);
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let refused = if uri_bytes > URI_MAX {
        Some(AppError::Rejected {
            status: StatusCode::URI_TOO_LONG,
            code: "uri_too_long",
            message: format!("The URL is longer than {URI_MAX} bytes."),
        })
    } else if header_bytes > HEADERS_MAX {
        Some(AppError::Rejected {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            code: "headers_too_large",
            message: format!("The headers are larger than {HEADERS_MAX} bytes."),
        })
    } else if has_encoded_nul(uri.path()) || uri.query().is_some_and(has_encoded_nul) {
        Some(nul_refused(None))
    } else {
        None
    };
    // Refused before its body was read: the rest of that body would be taken for the
    // next request on the connection, so the connection ends here, and says so.
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    if let Some(refused) = refused {
        return closing(refused.into_response(), has_body);
    }
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let response = if json {
        response
    } else {
        as_json(response).await
    };
    let early = matches!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    closing(response, has_body && early)
}

/// `response`, saying `Connection: close` when `close`.
fn closing(mut response: Response, close: bool) -> Response {
    if close {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// An error answer of the HTTP layer (plain text or empty) as `{code, message}`, keeping
/// its status and headers (405's `Allow`).
async fn as_json(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (code, standard) = match parts.status {
        StatusCode::BAD_REQUEST => ("bad_request", "The request is not valid."),
        StatusCode::UNAUTHORIZED => ("unauthorized", "Authentication required."),
        StatusCode::FORBIDDEN => ("forbidden", "Not allowed."),
        StatusCode::NOT_FOUND => ("not_found", "No such record."),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "This method is not allowed here; the Allow header lists those that are.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "The body is too large."),
        StatusCode::URI_TOO_LONG => ("uri_too_long", "The URL is too long."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "The body is not of a content type this endpoint takes.",
        ),
        s if s.is_server_error() => ("internal", "The server failed to handle this request."),
        _ => ("bad_request", "The request is not valid."),
    };
    // The HTTP layer's own words (e.g. why a path could not be read) are kept when short;
    // a server error's never are.
    let message = if text.is_empty() || text.len() > 300 || parts.status.is_server_error() {
        standard.to_owned()
    } else {
        text
    };
    // The JSON as every other error is written; the HTTP layer's headers kept beside it.
    let mut json = AppError::Rejected {
        status: parts.status,
        code,
        message,
    }
    .into_response();
    for (name, value) in &parts.headers {
        if !matches!(*name, header::CONTENT_TYPE | header::CONTENT_LENGTH) {
            json.headers_mut().append(name.clone(), value.clone());
        }
    }
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_wherever_it_hides() {
        let doc = serde_json::json!({"a": "ok", "b": [1, {"c": "x\u{0}y"}]});
        assert_eq!(find_nul(&doc).as_deref(), Some("b[1].c"));
        assert_eq!(
            find_nul(&serde_json::json!({"k\u{0}": 1})).as_deref(),
            Some("k\u{FFFD}")
        );
        assert_eq!(find_nul(&serde_json::json!({"a": ["fine"]})), None);
        assert!(has_encoded_nul("/phone-sms/calls/%00"));
        assert!(!has_encoded_nul("/phone-sms/calls/%200"));
    }
}
