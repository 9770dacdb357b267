#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

// The authorization matrix: every endpoint and method against every kind of caller, on SQLite
// and on PostgreSQL. Each row states the permission an endpoint needs and the status each
// caller must get; the statuses are written out by hand from the role definitions
// (`bodega_domain::BUILTIN_ROLES`), and [`matrix::the_matrix_follows_the_role_definitions`] checks the
// hand-written table against them, so neither can drift alone.
//
// Every request carries a valid body, so a permitted caller gets a success and a refused one
// gets 401/403 from the permission check, not from validation. Records a success would
// consume (a deleted customer, a revoked key, a logged-out session) are made fresh for each
// cell. Every refused request that could write is checked to have changed nothing.
//
// The test collects every disagreement and fails once, printing them all and the whole
// observed matrix.

mod callers;
mod fixture;
mod matrix;
mod operations;
mod requests;

use std::fmt::Write as _;

use axum::http::Method;
use serde_json::Value;

use callers::CALLERS;
use fixture::Fixture;
use helpers::TestApp;
use matrix::MATRIX;

crate::on_both_stores!(authorization_matrix);

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

fn brief(body: &Value) -> String {
    let text = body.to_string();
    if text.len() > 160 {
        let cut = (0..=160).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        format!("{}…", &text[..cut])
    } else {
        text
    }
}

async fn authorization_matrix(app: TestApp) {
    let fx = Fixture::new(app).await;
    let mut failures = Vec::new();
    let mut observed = Vec::new();
    let mut cells = 0;
    for row in MATRIX {
        let (method, _, _) = row.op.route();
        let mut statuses = Vec::new();
        for (who, expected) in CALLERS.iter().copied().zip(row.expect) {
            let (uri, auth, body) = fx.request(row.op, who).await;
            let refused = expected == 401 || expected == 403;
            let before = if refused && method != Method::GET {
                Some(fx.snapshot().await)
            } else {
                None
            };
            let response = fx.call(method.clone(), &uri, auth, body).await;
            cells += 1;
            let got = response.status.as_u16();
            statuses.push((got, got == expected));
            let at = format!("{} as {}", row.op.label(), who.name());
            if got != expected {
                failures.push(format!(
                    "{at}: expected {expected}, got {got}: {}",
                    brief(&response.body)
                ));
            } else if refused {
                let code = if expected == 401 { "unauthorized" } else { "forbidden" };
                let error = &response.body["error"];
                let has_message = error["message"].as_str().is_some_and(|m| !m.is_empty());
                if error["code"] != code || !has_message {
                    failures.push(format!(
                        "{at}: {got} without the error shape {{\"error\":{{\"code\":\"{code}\",\"message\":…}}}}: {}",
                        brief(&response.body)
                    ));
                }
            }
            if let Some(before) = before {
                if !response.status.is_success() {
                    let after = fx.snapshot().await;
                    let changed: Vec<&str> = before
                        .iter()
                        .zip(&after)
                        .filter(|(b, a)| b.1 != a.1)
                        .map(|(b, _)| b.0)
                        .collect();
                    if !changed.is_empty() {
                        failures.push(format!("{at}: refused with {got} but changed {}", changed.join(", ")));
                    }
                }
            }
        }
        observed.push((row, statuses));
    }

    if !failures.is_empty() {
        let mut table = String::new();
        let _ = write!(table, "{:<52}", "observed (* = not as expected)");
        for who in CALLERS {
            let _ = write!(table, "{:>9}", who.column());
        }
        for (row, statuses) in &observed {
            let _ = write!(table, "\n{:<52}", row.op.label());
            for (status, ok) in statuses {
                let cell = if *ok { status.to_string() } else { format!("*{status}") };
                let _ = write!(table, "{cell:>9}");
            }
        }
        panic!(
            "{} of {cells} authorization cells disagree with the matrix:\n  {}\n\n{table}\n",
            failures.len(),
            failures.join("\n  ")
        );
    }
    assert_eq!(cells, MATRIX.len() * CALLERS.len());
}
