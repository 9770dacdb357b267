//! Extractors that turn every malformed request into the API's JSON error shape, naming the
//! offending field where it can be told (axum's own rejections answer in plain text).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body deserialised with the path of any failing field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        let value = parse_json(&bytes)?;
        // Bodies are JSON objects. serde's derived structs also accept an array of the field
        // values in declaration order, which no client means to send.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::Validation {
                field: None,
                message: "expected a JSON object".into(),
            });
        }
        Ok(ApiJson(value))
    }
}

/// Parses JSON, mapping errors to 400 (unreadable) or 422 (wrong shape) with the field path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => {
            de.end().map_err(|e| ApiError::BadRequest {
                field: None,
                message: format!("invalid JSON: {e}"),
            })?;
            if has_escaped_nul(bytes) {
                let field = serde_json::from_slice::<serde_json::Value>(bytes)
                    .ok()
                    .and_then(|v| field_with_nul(&v, String::new()));
                return Err(ApiError::Validation {
                    field,
                    message: "must not contain control characters".into(),
                });
            }
            Ok(value)
        }
        Err(err) => {
            let inner = err.inner();
            let message = inner.to_string();
            let field = field_of(err.path(), &message);
            if inner.is_data() {
                // Unreadable JSON after the point where the shape went wrong is still
                // unreadable: a syntax error anywhere in the body outranks a wrong shape.
                if let Err(syntax) = serde_json::from_slice::<serde_json::Value>(bytes) {
                    return Err(ApiError::BadRequest {
                        field: None,
                        message: format!("invalid JSON: {syntax}"),
                    });
                }
                Err(ApiError::Validation {
                    field,
                    message: strip_position(&message),
                })
            } else {
                Err(ApiError::BadRequest {
                    field,
                    message: format!("invalid JSON: {message}"),
                })
            }
        }
    }
}

/// Whether valid JSON holds a NUL character, which no text field accepts and PostgreSQL cannot
/// store. In valid JSON a NUL can only be the escape `\u0000` inside a string, and a backslash
/// only starts an escape, so walking the escapes finds it exactly (`\\u0000` is not one).
fn has_escaped_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// The path (`items[0].name`) of the first key or string holding a NUL.
fn field_with_nul(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    let named = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| field_with_nul(v, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(named(k))
            } else {
                field_with_nul(v, named(k))
            }
        }),
        _ => None,
    }
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge {
            limit: crate::state::body_limit(),
        }
    } else {
        ApiError::BadRequest {
            field: None,
            message: rejection.body_text(),
        }
    }
}

/// The field an error is about, as `items[0].quantity`: the path serde reached, cut before
/// the first segment it could not name (a key that failed to parse, which the path prints as
/// `?`), then the field a missing- or repeated-field message names. `None` when the error is
/// about the body as a whole (`{"a":1,}`, an empty body): the error shape then omits `field`.
fn field_of(path: &serde_path_to_error::Path, message: &str) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut field = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
            }
            Segment::Unknown => break,
        }
    }
    if let Some(name) = named_field(message) {
        if !field.is_empty() {
            field.push('.');
        }
        field.push_str(&name);
    }
    (!field.is_empty()).then_some(field)
}

/// serde names a missing or repeated field only in its message: "missing field `email` at
/// line 1 column 2", "duplicate field `page`".
fn named_field(message: &str) -> Option<String> {
    let start = ["missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.find(prefix).map(|i| i + prefix.len()))?;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A query string deserialised into `T`, answering 400 with the field on failure.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some((key, _)) = form_urlencoded_parse(query).find(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(ApiError::Validation {
                field: Some(key.into_owned()),
                message: "must not contain control characters".into(),
            });
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|err| {
            let message = err.inner().to_string();
            let field = field_of(err.path(), &message);
            ApiError::BadRequest {
                field,
                message: format!("invalid query string: {message}"),
            }
        })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// A numeric id in the path; anything else is a 400 naming `id`.
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest {
                field: Some("id".into()),
                message: e.body_text(),
            })?;
        raw.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(PathId)
            .ok_or_else(|| ApiError::BadRequest {
                field: Some("id".into()),
                message: format!("'{raw}' is not a valid id"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        age: u32,
    }

    #[test]
    fn names_the_failing_field() {
        match parse_json::<Body>(br#"{"email":"a@b.cl"}"#) {
            Err(ApiError::Validation { field, .. }) => assert_eq!(field.as_deref(), Some("age")),
            other => panic!("{other:?}"),
        }
        match parse_json::<Body>(br#"{"email":"a@b.cl","age":"x"}"#) {
            Err(ApiError::Validation { field, .. }) => assert_eq!(field.as_deref(), Some("age")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_json::<Body>(b"{not json"),
            Err(ApiError::BadRequest { .. })
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"email":"a@b.cl","age":1} x"#),
            Err(ApiError::BadRequest { .. })
        ));
        // A syntax error after a wrong shape is still a syntax error.
        assert!(matches!(
            parse_json::<Body>(br#"{"email":"a@b.cl"} x"#),
            Err(ApiError::BadRequest { .. })
        ));
        match parse_json::<Body>(br#"{"email":"a\u0000b","age":1}"#) {
            Err(ApiError::Validation { field, .. }) => assert_eq!(field.as_deref(), Some("email")),
            other => panic!("{other:?}"),
        }
        let nested: serde_json::Value = serde_json::from_str(r#"{"items":[{"a":"x"},{"a":"\u0000"}]}"#).unwrap();
        assert_eq!(field_with_nul(&nested, String::new()).as_deref(), Some("items[1].a"));
        // An escaped backslash followed by "u0000" is text, not a NUL.
        assert!(parse_json::<Body>(br#"{"email":"a\\u0000b","age":1}"#).is_ok());
        assert!(parse_json::<Body>(br#"{"email":"\\","age":1}"#).is_ok());
        match parse_json::<Body>(br#"{"email":"a@b.cl","age":1,"age":2}"#) {
            Err(ApiError::Validation { field, .. }) => assert_eq!(field.as_deref(), Some("age")),
            other => panic!("{other:?}"),
        }
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Order {
        note: Option<String>,
        items: Vec<Body>,
    }

    /// The `field` of a 400 or 422, whichever `parse_json` answered.
    fn failing_field(json: &[u8]) -> Option<String> {
        match parse_json::<Order>(json) {
            Err(ApiError::BadRequest { field, .. } | ApiError::Validation { field, .. }) => field,
            other => panic!("{}: {other:?}", String::from_utf8_lossy(json)),
        }
    }

    #[test]
    fn names_nested_fields_and_never_a_placeholder() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (br#"{"items":[{"email":"a@b.cl","age":"x"}]}"#, Some("items[0].age")),
            (
                br#"{"items":[{"email":"a@b.cl","age":1},{"email":"b@b.cl"}]}"#,
                Some("items[1].age"),
            ),
            (
                br#"{"items":[{"email":"a@b.cl","age":1,"age":2}]}"#,
                Some("items[0].age"),
            ),
            (br#"{"items":[{"email":"a@b.cl","age": }]}"#, Some("items[0].age")),
            // A key that does not parse: the deepest part serde could name.
            (br#"{"items":[{"email":"a@b.cl",}]}"#, Some("items[0]")),
            (br#"{"items":[{"email":"a@b.cl", age: 1}]}"#, Some("items[0]")),
            // About the body as a whole: no field at all.
            (br#"{"note":"x",}"#, None),
            (br#"{note: "x"}"#, None),
            (br#"{"#, None),
            (b"", None),
            (br#""a string""#, None),
        ];
        for (json, expected) in cases {
            let field = failing_field(json);
            assert_eq!(field.as_deref(), *expected, "{}", String::from_utf8_lossy(json));
            assert!(!field.is_some_and(|f| f.contains('?')));
        }
    }
}
