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
    /// Most PostgreSQL connections the server opens; 0 (the default): four per CPU core, at
    /// least 8 and at most 32. PostgreSQL does its best work with a few busy backends per core
    /// (more only switch and contend for locks; measured on 2 cores: 8 connections gave
    /// ≈ 20% more orders/s than 32); requests beyond the pool wait in the server for a
    /// connection.
    pub database_pool_size: u32,
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
            database_pool_size: 0,
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

    /// The PostgreSQL pool size: [`Config::database_pool_size`], or the default it describes.
    pub fn postgres_pool(&self) -> u32 {
        if self.database_pool_size > 0 {
            return self.database_pool_size;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        u32::try_from(cores.saturating_mul(4)).unwrap_or(u32::MAX).clamp(8, 32)
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

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn postgres_pool_is_the_setting_or_four_per_core_within_8_to_32() {
        let mut config = Config::default();
        let automatic = config.postgres_pool();
        assert!((8..=32).contains(&automatic), "{automatic}");
        config.database_pool_size = 5;
        assert_eq!(config.postgres_pool(), 5);
    }
}
