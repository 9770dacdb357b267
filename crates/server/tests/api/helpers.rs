//! `spawn(store)`: a fresh database per test (a temporary SQLite file, or a new PostgreSQL
//! database when `BODEGA_TEST_POSTGRES_URL` is set), the real router, and a signed-in admin.
//! Requests go through the router in-process (`oneshot`), responses come back as JSON.

use std::str::FromStr;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};
use tower::ServiceExt;

use bodega_server::auth::password;
use bodega_server::{app, AppState, Config};
use bodega_store::audit::Actor;
use bodega_store::users::{self, NewUser};
use bodega_store::{roles, Db};

/// The JWT key of every test app, so that tests can forge tokens (expired ones, say).
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret!";
pub const ADMIN_EMAIL: &str = "admin@test.cl";
pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub admin: String,
    _db: DbGuard,
}

/// How a request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Bearer(String),
    ApiKey(String),
}

impl From<&String> for Auth {
    fn from(token: &String) -> Self {
        Auth::Bearer(token.clone())
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Response {
    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self
    }

    /// Asserts the error shape `{"error":{"code","message"[,"field"]}}`.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str, field: Option<&str>) -> Self {
        let me = self.expect(status);
        let error = &me.body["error"];
        assert_eq!(error["code"], code, "body: {}", me.body);
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "body: {}",
            me.body
        );
        if let Some(field) = field {
            assert_eq!(error["field"], field, "body: {}", me.body);
        }
        me
    }
}

pub fn test_config() -> Config {
    Config {
        jwt_secret: Some(TEST_JWT_SECRET.into()),
        login_attempts_per_minute: 10_000,
        rate_limit_per_second: 0,
        log_format: "pretty".into(),
        ..Config::default()
    }
}

/// A fresh app on `store` with the default test configuration; `None` when the store is
/// PostgreSQL and no test server is configured.
pub async fn spawn(store: Store) -> Option<TestApp> {
    spawn_with(store, test_config()).await
}

pub async fn spawn_with(store: Store, mut config: Config) -> Option<TestApp> {
    let guard = match store {
        Store::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            config.database_url = format!("sqlite://{}", dir.path().join("test.db").display());
            DbGuard::Sqlite(dir)
        }
        Store::Postgres => {
            let base = std::env::var("BODEGA_TEST_POSTGRES_URL").ok()?;
            let name = format!("bodega_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&base)
                .await
                .expect("connect to BODEGA_TEST_POSTGRES_URL");
            admin
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create test database");
            admin.close().await.ok();
            let options = PgConnectOptions::from_str(&base).expect("postgres url").database(&name);
            config.database_url = options.to_url_lossy().to_string();
            DbGuard::Postgres { base, name }
        }
    };
    let db = Db::connect(&config.database_url).await.expect("connect");
    let state = AppState::with_db(config, db).await.expect("app state");
    create_user(&state, ADMIN_EMAIL, "admin").await;
    let router = app::router(state.clone());
    let mut app = TestApp {
        router,
        state,
        admin: String::new(),
        _db: guard,
    };
    app.admin = app.login(ADMIN_EMAIL, PASSWORD).await;
    Some(app)
}

/// Creates a user straight in the store (no API), with the test password.
pub async fn create_user(state: &AppState, email: &str, role: &str) -> i64 {
    let hash = password::hash(PASSWORD).await.expect("hash");
    let mut tx = state.db.begin().await.expect("begin");
    let role = roles::find_by_name(&mut tx.conn(), role).await.expect("role");
    let user = users::create(
        &mut tx.conn(),
        &Actor::system("test"),
        &NewUser {
            email: email.into(),
            password_hash: hash,
            first_name: "Test".into(),
            last_name: role.name.clone(),
            phone: None,
            role_id: role.id,
        },
    )
    .await
    .expect("create user");
    tx.commit().await.expect("commit");
    user.id
}

impl TestApp {
    pub async fn call(&self, method: Method, uri: &str, auth: impl Into<AuthArg>, body: Option<Value>) -> Response {
        let mut request = Request::builder().method(method).uri(uri);
        request = match auth.into().0 {
            Auth::None => request,
            Auth::Bearer(token) => request.header("authorization", format!("Bearer {token}")),
            Auth::ApiKey(key) => request.header("x-api-key", key),
        };
        let body = match body {
            Some(value) => {
                request = request.header("content-type", "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("request")).await
    }

    pub async fn send(&self, request: Request<Body>) -> Response {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Response { status, headers, body }
    }

    pub async fn get(&self, uri: &str, auth: impl Into<AuthArg>) -> Response {
        self.call(Method::GET, uri, auth, None).await
    }

    pub async fn post(&self, uri: &str, auth: impl Into<AuthArg>, body: Value) -> Response {
        self.call(Method::POST, uri, auth, Some(body)).await
    }

    pub async fn put(&self, uri: &str, auth: impl Into<AuthArg>, body: Value) -> Response {
        self.call(Method::PUT, uri, auth, Some(body)).await
    }

    pub async fn delete(&self, uri: &str, auth: impl Into<AuthArg>) -> Response {
        self.call(Method::DELETE, uri, auth, None).await
    }

    /// Signs in and returns the access token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/auth/login",
                Auth::None,
                json!({"email": email, "password": password}),
            )
            .await
            .expect(200);
        r.body["access_token"].as_str().expect("access token").to_string()
    }

    /// Signs in and returns the whole token response.
    pub async fn login_full(&self, email: &str, password: &str) -> Value {
        self.post(
            "/api/auth/login",
            Auth::None,
            json!({"email": email, "password": password}),
        )
        .await
        .expect(200)
        .body
    }

    /// A new user with `role`, signed in; returns the access token.
    pub async fn token_for_role(&self, role: &str) -> String {
        let email = format!("{role}-{}@test.cl", uuid::Uuid::new_v4().simple());
        create_user(&self.state, &email, role).await;
        self.login(&email, PASSWORD).await
    }

    /// A new API key with `permissions`, created by the admin; returns the secret.
    pub async fn api_key(&self, permissions: &[&str]) -> String {
        let r = self
            .post(
                "/api/api-keys",
                &self.admin,
                json!({"name": "test key", "permissions": permissions}),
            )
            .await
            .expect(201);
        r.body["key"].as_str().expect("key").to_string()
    }
}

/// Lets `call` take a token, an `Auth`, or `()` for anonymous.
pub struct AuthArg(pub Auth);

impl From<Auth> for AuthArg {
    fn from(a: Auth) -> Self {
        AuthArg(a)
    }
}

impl From<&String> for AuthArg {
    fn from(token: &String) -> Self {
        AuthArg(Auth::Bearer(token.clone()))
    }
}

impl From<&str> for AuthArg {
    fn from(token: &str) -> Self {
        AuthArg(Auth::Bearer(token.to_string()))
    }
}

impl From<()> for AuthArg {
    fn from(_: ()) -> Self {
        AuthArg(Auth::None)
    }
}

enum DbGuard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { base: String, name: String },
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        if let DbGuard::Postgres { base, name } = self {
            let (base, name) = (base.clone(), name.clone());
            // Dropped inside the test's runtime: drop the database from a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let mut c = sqlx::PgConnection::connect(&base).await.ok()?;
                    c.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

/// Writes each listed test twice: once on SQLite, once on PostgreSQL (skipped with a message
/// when `BODEGA_TEST_POSTGRES_URL` is unset; CI sets it).
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::helpers::spawn($crate::helpers::Store::Sqlite).await.expect("sqlite app");
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    match $crate::helpers::spawn($crate::helpers::Store::Postgres).await {
                        Some(app) => super::$name(app).await,
                        None => eprintln!("skipped on PostgreSQL: BODEGA_TEST_POSTGRES_URL is not set"),
                    }
                }
            )*
        }
    };
}
