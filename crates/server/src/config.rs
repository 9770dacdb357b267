//! Configuration: built-in defaults, then a TOML file (`bodega.toml`, or the path in
//! `BODEGA_CONFIG`), then `BODEGA_*` environment variables, each overriding the one before.
//! No secret has a built-in default: the JWT signing key is generated on first run and kept in
//! the database unless `jwt_secret` is given.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `sqlite://FILE` (created when missing) or `postgres://…`.
    pub database_url: String,
    /// Address of the HTTP listener.
    pub bind: String,
    /// HS256 signing key of access tokens; generated and stored in the database when unset.
    pub jwt_secret: Option<String>,
    pub access_token_minutes: i64,
    pub refresh_token_days: i64,
    /// Lets anyone call `POST /api/auth/register` (they get the `employee` role).
    pub open_registration: bool,
    /// Comma-separated origins allowed by CORS; `*` allows any origin, without credentials.
    pub cors_origins: String,
    /// Login attempts allowed per minute for one e-mail address and for one client address.
    pub login_attempts_per_minute: u32,
    /// Requests per second allowed per client (caller identity, else address); 0 disables.
    pub rate_limit_per_second: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// `json` (default) or `pretty`.
    pub log_format: String,
    /// A tracing filter such as `info` or `bodega=debug,info`.
    pub log_level: String,
    /// Weight of each interaction kind (view, like, cart, purchase) in the recommendation
    /// models, relative to one unit bought.
    pub interaction_weights: bodega_recommend::InteractionWeights,
    /// Products recommended (and stored) for every sale; 0 turns it off.
    pub recommendations_per_sale: usize,
    /// Cron expressions of scheduled jobs by name, overriding their defaults
    /// (`[jobs]` table in bodega.toml, e.g. `daily-sales = "15 2 * * *"`).
    pub jobs: std::collections::BTreeMap<String, String>,
    /// Runs scheduled jobs in this process (one process of a fleet may turn it off).
    pub scheduler: bool,
    /// The shop's public holidays and special days (`holidays = ["2026-12-25", …]`): each gets
    /// its own effect in the decomposable forecast model.
    pub holidays: Vec<chrono::NaiveDate>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://bodega.db".into(),
            bind: "127.0.0.1:8080".into(),
            jwt_secret: None,
            access_token_minutes: 15,
            refresh_token_days: 30,
            open_registration: false,
            cors_origins: "http://localhost:8080,http://127.0.0.1:8080".into(),
            login_attempts_per_minute: 10,
            rate_limit_per_second: 200,
            max_body_bytes: 2 * 1024 * 1024,
            log_format: "json".into(),
            log_level: "info".into(),
            interaction_weights: bodega_recommend::InteractionWeights::default(),
            recommendations_per_sale: 5,
            jobs: std::collections::BTreeMap::new(),
            scheduler: true,
            holidays: Vec::new(),
        }
    }
}

impl Config {
    /// Reads defaults, the config file and the environment.
    pub fn load() -> Result<Self, Box<figment::Error>> {
        let file = std::env::var("BODEGA_CONFIG").unwrap_or_else(|_| "bodega.toml".into());
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("BODEGA_").ignore(&["config"]))
            .extract()
            .map_err(Box::new)
    }

    pub fn cors_origin_list(&self) -> Vec<String> {
        self.cors_origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect()
    }
}
