//! The real server: `bodega_server::serve` on a TCP listener, spoken to in raw HTTP/1.1, with
//! the client address reaching the audit log, and a graceful shutdown.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{TestApp, ADMIN_EMAIL, PASSWORD};

crate::on_both_stores!(serves_http_over_tcp_and_shuts_down);

struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends one request on a fresh connection (`Connection: close`) and reads the whole answer.
async fn raw(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes))
        .await
        .expect("response within 10 s")
        .expect("read");
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> RawResponse {
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8 response");
    let (head, rest) = text.split_once("\r\n\r\n").expect("end of headers");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status: u16 = parts.next().unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header line");
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        let mut body = String::new();
        let mut rest = rest;
        loop {
            let (size, after) = rest.split_once("\r\n").expect("chunk size");
            let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
            if size == 0 {
                break;
            }
            body.push_str(&after[..size]);
            rest = &after[size + 2..];
        }
        body
    } else {
        let len = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse::<usize>().unwrap());
        match len {
            Some(len) => rest[..len].to_string(),
            None => rest.to_string(),
        }
    };
    RawResponse { status, headers, body }
}

async fn serves_http_over_tcp_and_shuts_down(app: TestApp) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bodega_server::serve(app.state.clone(), listener, async {
        let _ = stopped.await;
    }));

    let health = raw(addr, "GET", "/health", &[], "").await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert!(health.header("content-type").unwrap().starts_with("application/json"));
    assert_eq!(health.header("x-content-type-options"), Some("nosniff"));
    assert!(health.header("x-request-id").is_some());
    let body = health.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["dependencies"][0]["name"], "database");
    assert_eq!(body["dependencies"][0]["status"], "up");

    let credentials = json!({"email": ADMIN_EMAIL, "password": PASSWORD}).to_string();
    let login = raw(
        addr,
        "POST",
        "/api/auth/login",
        &[
            ("Content-Type", "application/json"),
            ("User-Agent", "raw-test/1.0"),
            ("X-Request-Id", "raw-login-1"),
        ],
        &credentials,
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.header("x-request-id"), Some("raw-login-1"));
    let tokens = login.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["user"]["email"], ADMIN_EMAIL);
    let token = tokens["access_token"].as_str().unwrap().to_string();

    let wrong = raw(
        addr,
        "POST",
        "/api/auth/login",
        &[("Content-Type", "application/json")],
        &json!({"email": ADMIN_EMAIL, "password": "wrong password"}).to_string(),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"]["code"], "unauthorized");

    // The login's audit entry carries the client address, read over the wire too.
    let bearer = format!("Bearer {token}");
    let audit = raw(
        addr,
        "GET",
        "/api/audit?action=login&resource=session",
        &[("Authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    let entries = audit.json()["items"].as_array().unwrap().clone();
    let entry = entries
        .iter()
        .find(|e| e["request_id"] == "raw-login-1")
        .unwrap_or_else(|| panic!("no audit entry of the login: {entries:?}"));
    assert_eq!(entry["ip"], "127.0.0.1");
    assert_eq!(entry["actor_label"], ADMIN_EMAIL);
    assert_eq!(entry["actor_kind"], "user");
    // In-process requests have no client address.
    let in_process = entries.iter().find(|e| e["request_id"] != "raw-login-1").unwrap();
    assert_eq!(in_process["ip"], Value::Null);
    // A change made over the wire records the address too.
    let created = raw(
        addr,
        "POST",
        "/api/customers",
        &[("Authorization", &bearer), ("Content-Type", "application/json")],
        &json!({"first_name": "Wire"}).to_string(),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].clone();
    let entries = crate::audit(&app, &format!("resource=customer&resource_id={id}")).await;
    assert_eq!(entries[0]["ip"], "127.0.0.1");
    assert_eq!(entries[0]["request_id"], created.header("x-request-id").unwrap());

    // Unknown routes answer in the JSON error shape over the wire as well.
    let missing = raw(addr, "GET", "/nowhere", &[], "").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");

    stop.send(()).expect("server still running");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops within 10 s")
        .expect("server task")
        .expect("serve returns Ok");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener still accepting after shutdown"
    );
}
