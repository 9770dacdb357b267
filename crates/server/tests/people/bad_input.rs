//! Input that cannot be read at all: each is answered with the JSON error shape, never with a
//! 5xx, and changes nothing.

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{json, Value};

use crate::common::{assert_rejected, create, id_of, snapshot, KINDS};
use crate::helpers::{Response, TestApp};

crate::on_both_stores!(
    malformed_json_is_a_bad_request,
    bodies_need_the_json_content_type,
    oversized_bodies_are_refused,
    path_ids_must_be_positive_integers,
    bad_query_strings_are_bad_requests,
    unknown_routes_and_wrong_methods,
    non_object_bodies_are_refused,
    hostile_search_text_is_harmless,
);

/// Sends raw bytes as the signed-in admin.
async fn raw(app: &TestApp, method: Method, uri: &str, content_type: Option<&str>, body: impl Into<Body>) -> Response {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {}", app.admin));
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    app.send(request.body(body.into()).expect("request")).await
}

const JSON: Option<&str> = Some("application/json");

async fn malformed_json_is_a_bad_request(app: TestApp) {
    // Each body with the field its error names: the one whose value could not be read (`email`,
    // a field of every kind), or none when the body as a whole is unreadable (never a
    // placeholder such as "?").
    let bodies: &[(&[u8], Option<&str>)] = &[
        (b"{\"email\": ", Some("email")),
        (b"{first_name: \"Ana\"}", None),
        (b"{'first_name': 'Ana'}", None),
        (b"{\"first_name\": \"Ana\",}", None),
        (b"{\"first_name\": \"Ana\", last_name: \"Soto\"}", None),
        (b"{\"first_name\": \"Ana\"} trailing", None),
        (b"{\"first_name\": \"Ana\"}{}", None),
        (b"", None),
        (b"   ", None),
        (b"\xff\xfe{}", None),
        (b"{\"email\": \"\xc3\x28\"}", Some("email")),
        (b"{\"email\": \"\\ud800\"}", Some("email")),
        (b"{\"email\": \"ana\\x\"}", Some("email")),
        (b"{\"email\": NaN}", Some("email")),
    ];
    for kind in KINDS {
        let record = create(&app, kind, kind.minimal(1)).await;
        let item = kind.item(id_of(&record));
        let before = snapshot(&app).await;
        for (body, field) in bodies.iter().map(|(b, f)| (b.to_vec(), *f)) {
            let what = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
            for (method, uri) in [(Method::POST, kind.path), (Method::PUT, item.as_str())] {
                let r = raw(&app, method, uri, JSON, body.clone()).await;
                assert_rejected(&r, &[400], &what);
                let r = r.expect_error(400, "bad_request", field);
                if field.is_none() {
                    assert!(r.body["error"].get("field").is_none(), "{what}: {}", r.body);
                }
            }
        }
        // The charset parameter and case of the media type do not matter.
        let r = raw(
            &app,
            Method::POST,
            kind.path,
            Some("Application/JSON; charset=utf-8"),
            "{\"first_name\":",
        )
        .await;
        r.expect_error(400, "bad_request", None);
        assert_eq!(snapshot(&app).await, before);
        assert_eq!(app.get(&item, &app.admin).await.expect(200).body, record);
    }
}

async fn bodies_need_the_json_content_type(app: TestApp) {
    for kind in KINDS {
        let record = create(&app, kind, kind.minimal(1)).await;
        let item = kind.item(id_of(&record));
        let valid = kind.minimal(2).to_string();
        let before = snapshot(&app).await;
        for content_type in [
            None,
            Some("text/plain"),
            Some("text/json"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonx"),
            Some("application/json-patch+json"),
            Some(""),
        ] {
            for (method, uri) in [(Method::POST, kind.path), (Method::PUT, item.as_str())] {
                let r = raw(&app, method, uri, content_type, valid.clone()).await;
                assert_rejected(&r, &[415], &format!("{content_type:?}"));
                r.expect_error(415, "unsupported_media_type", None);
            }
        }
        // Without a body at all, too.
        raw(&app, Method::POST, kind.path, None, Body::empty())
            .await
            .expect_error(415, "unsupported_media_type", None);
        assert_eq!(snapshot(&app).await, before);
        // The same body is fine with the right type.
        raw(&app, Method::POST, kind.path, JSON, valid).await.expect(201);
    }
}

async fn oversized_bodies_are_refused(app: TestApp) {
    let limit = 2 * 1024 * 1024;
    for kind in KINDS {
        let record = create(&app, kind, kind.minimal(1)).await;
        let item = kind.item(id_of(&record));
        let before = snapshot(&app).await;
        // Valid JSON, one byte over the limit, and far over it.
        for size in [limit + 1, 3 * limit] {
            let mut body = kind.minimal(2);
            body["address"] = json!("");
            let skeleton = body.to_string().len();
            body["address"] = json!("x".repeat(size - skeleton));
            let bytes = body.to_string();
            assert_eq!(bytes.len(), size);
            for (method, uri) in [(Method::POST, kind.path), (Method::PUT, item.as_str())] {
                let r = raw(&app, method, uri, JSON, bytes.clone()).await;
                assert_rejected(&r, &[413], &format!("{size} bytes"));
                r.expect_error(413, "payload_too_large", None);
            }
        }
        // A body within the limit is read, and then judged on its content.
        let mut body = kind.minimal(2);
        body["address"] = json!("x".repeat(limit / 2));
        app.post(kind.path, &app.admin, body)
            .await
            .expect_error(422, "validation", Some("address"));
        assert_eq!(snapshot(&app).await, before);
    }
}

async fn path_ids_must_be_positive_integers(app: TestApp) {
    for kind in KINDS {
        create(&app, kind, kind.minimal(1)).await;
        let before = snapshot(&app).await;
        for id in [
            "abc",
            "0",
            "-1",
            "1.5",
            "1e3",
            "01x",
            "%20",
            "99999999999999999999",
            "0x10",
            "%F0%9F%98%80",
        ] {
            let uri = format!("{}/{id}", kind.path);
            for (method, body) in [
                (Method::GET, None),
                (Method::PUT, Some(kind.minimal(2))),
                (Method::DELETE, None),
            ] {
                let r = app.call(method.clone(), &uri, &app.admin, body).await;
                assert_rejected(&r, &[400], &format!("{method} {uri}"));
                r.expect_error(400, "bad_request", Some("id"));
            }
        }
        assert_eq!(snapshot(&app).await, before);
    }
}

async fn bad_query_strings_are_bad_requests(app: TestApp) {
    for kind in KINDS {
        create(&app, kind, kind.minimal(1)).await;
        for (query, field) in [
            ("page=x", "page"),
            ("per_page=abc", "per_page"),
            ("page=", "page"),
            ("page=1.5", "page"),
            ("page=99999999999999999999", "page"),
            ("per_page=1e2", "per_page"),
            ("page=1&page=2", "page"),
        ] {
            let uri = format!("{}?{query}", kind.path);
            let r = app.get(&uri, &app.admin).await;
            assert_rejected(&r, &[400], &uri);
            r.expect_error(400, "bad_request", Some(field));
        }
        // Unknown parameters are ignored; stray separators are harmless.
        app.get(&format!("{}?sort=name&&=&q", kind.path), &app.admin)
            .await
            .expect(200);
    }
}

async fn unknown_routes_and_wrong_methods(app: TestApp) {
    let before = snapshot(&app).await;
    for uri in [
        "/api/customer",
        "/api/clientes",
        "/api/customers/1/orders",
        "/api/customers/",
        "/api/employees/1/2",
        "/api/suppliers//1",
        "/api",
        "/api/",
    ] {
        for auth in [Some(&app.admin), None] {
            let r = match auth {
                Some(token) => app.get(uri, token).await,
                None => app.get(uri, ()).await,
            };
            assert_rejected(&r, &[404], uri);
            r.expect_error(404, "not_found", None);
        }
    }
    let record = create(&app, KINDS[0], KINDS[0].minimal(1)).await;
    let before_wrong = snapshot(&app).await;
    for kind in KINDS {
        let item = kind.item(id_of(&record));
        let cases = [
            (Method::PATCH, kind.path.to_string()),
            (Method::PUT, kind.path.to_string()),
            (Method::DELETE, kind.path.to_string()),
            (Method::PATCH, item.clone()),
            (Method::POST, item.clone()),
        ];
        for (method, uri) in cases {
            let r = app.call(method.clone(), &uri, &app.admin, Some(kind.minimal(2))).await;
            assert_rejected(&r, &[405], &format!("{method} {uri}"));
            r.expect_error(405, "method_not_allowed", None);
        }
    }
    assert_eq!(snapshot(&app).await, before_wrong);
    assert_ne!(before, before_wrong);
}

async fn non_object_bodies_are_refused(app: TestApp) {
    for kind in KINDS {
        let record = create(&app, kind, kind.minimal(1)).await;
        let item = kind.item(id_of(&record));
        // The right values in positional form are still not an object.
        let positional = match kind.resource {
            "customer" => json!(["Ana", "Pérez", null, null, null, null, null]),
            "employee" => json!(["E-9", "Ana", "Pérez", null, null, null, null, null, null, null, null]),
            _ => json!(["Andes", null, null, null, null, null, null]),
        };
        let bodies = [
            Value::Null,
            json!([]),
            json!([kind.minimal(2)]),
            positional,
            json!("Ana"),
            json!(42),
            json!(true),
        ];
        let before = snapshot(&app).await;
        for body in bodies {
            for (method, uri) in [(Method::POST, kind.path), (Method::PUT, item.as_str())] {
                let r = app.call(method.clone(), uri, &app.admin, Some(body.clone())).await;
                assert_rejected(&r, &[400, 422], &format!("{method} {uri} {body}"));
            }
        }
        // Nesting far beyond the parser's depth limit, as an array and inside a field.
        for deep in [
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
            format!(
                "{{\"{}\": {}{}}}",
                kind.name_field(),
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
            format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000)),
        ] {
            for (method, uri) in [(Method::POST, kind.path), (Method::PUT, item.as_str())] {
                let r = raw(&app, method.clone(), uri, JSON, deep.clone()).await;
                assert_rejected(&r, &[400, 422], &format!("{method} {uri} deeply nested"));
            }
        }
        assert_eq!(snapshot(&app).await, before);
        assert_eq!(app.get(&item, &app.admin).await.expect(200).body, record);
    }
}

/// Search text is data, never SQL; text the database cannot hold is refused as input.
async fn hostile_search_text_is_harmless(app: TestApp) {
    for kind in KINDS {
        create(&app, kind, kind.minimal(1)).await;
        let before = snapshot(&app).await;
        for q in [
            "%27%3B%20DROP%20TABLE%20customers%3B--",
            "%22",
            "%5C",
            "x%27%20OR%20%271%27%3D%271",
            "%F0%9F%98%80",
            "%C3%B1",
        ] {
            let uri = format!("{}?q={q}", kind.path);
            let r = app.get(&uri, &app.admin).await.expect(200);
            assert_eq!(r.body["total"], 0, "{uri}");
        }
        // Longer than anything searchable.
        app.get(&format!("{}?q={}", kind.path, "a".repeat(501)), &app.admin)
            .await
            .expect_error(422, "validation", Some("q"));
        app.get(&format!("{}?q={}", kind.path, "a".repeat(500)), &app.admin)
            .await
            .expect(200);
        for q in ["%00", "a%00b", "%1B"] {
            for param in ["q", "email", "rut"] {
                let uri = format!("{}?{param}={q}", kind.path);
                let r = app.get(&uri, &app.admin).await;
                assert_rejected(&r, &[422], &uri);
                r.expect_error(422, "validation", Some(param));
            }
        }
        assert_eq!(snapshot(&app).await, before);
    }
}
