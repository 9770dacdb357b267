//! `bodega`: the server and the command line in one binary.

use anyhow::Context;
use clap::{Parser, Subcommand};

use bodega_server::{AppState, Config};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod eval_forecast;
mod eval_recommend;
mod import;

#[derive(Parser)]
#[command(name = "bodega", version, about = "Retail ERP with machine learning built in")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (migrations are applied first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage administrator accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Set up a demo store and serve it: migrate, ensure the admin admin@bodega.local (a new
    /// password is printed on every start), serve.
    Demo {
        /// Load the UCI Online Retail CSV (online-retail import) before serving.
        #[arg(long, value_name = "FILE")]
        online_retail: Option<std::path::PathBuf>,
    },
    /// Import a CSV file: FORMAT is products, customers, sales, sales-items, transactions or
    /// online-retail. Nothing is written unless every row is valid.
    Import(import::ImportArgs),
    /// Export a CSV file: FORMAT is products, customers, sales, sales-items or transactions.
    Export(import::ExportArgs),
    /// Forecast the demand of every active product (or one, or every category or store) and
    /// store the forecasts.
    Forecast {
        /// product (default), category (each category with its subcategories) or store (each
        /// store's total demand).
        #[arg(long, default_value = "product")]
        by: String,
        /// Periods ahead (default 28 days or 8 weeks).
        #[arg(long)]
        horizon: Option<usize>,
        /// daily or weekly.
        #[arg(long, default_value = "daily")]
        granularity: String,
        /// Only this product.
        #[arg(long)]
        product: Option<i64>,
        /// Only this store's sales (default: all stores).
        #[arg(long)]
        warehouse: Option<i64>,
    },
    /// Train models on the shop's data and store the new version.
    Train {
        #[command(subcommand)]
        command: TrainCommand,
    },
    /// Evaluate a model family on a benchmark data set (no database needed).
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Forecast accuracy on the M-competition layout (e.g. shared/data/m3): sMAPE, MASE, time.
    Forecast(eval_forecast::EvalForecastArgs),
    /// Recommendation quality on a temporal split (transactions CSV or UCI Online Retail):
    /// precision, recall, NDCG, MAP, hit rate at 10 and catalogue coverage, with peers' lists.
    Recommendations(Box<eval_recommend::EvalRecommendArgs>),
}

#[derive(Subcommand)]
enum TrainCommand {
    /// Recommendation models (item-item, collaborative, content) on every sale and
    /// interaction; evaluated on the newest four weeks before being stored.
    Recommendations,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator (the first one, or another).
    Create {
        #[arg(long)]
        email: String,
        /// At least 8 characters; read from BODEGA_ADMIN_PASSWORD when not given.
        #[arg(long, env = "BODEGA_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
    },
    /// Set a new password for a user and end their sessions.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long, env = "BODEGA_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Version = cli.command {
        println!("bodega {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    if let Command::Eval {
        command: EvalCommand::Forecast(args),
    } = &cli.command
    {
        return eval_forecast::run(args);
    }
    if let Command::Eval {
        command: EvalCommand::Recommendations(args),
    } = &cli.command
    {
        return eval_recommend::run(args);
    }
    let config = Config::load().context("reading configuration")?;
    bodega_server::telemetry::init(&config.log_format, &config.log_level);
    match cli.command {
        Command::Version | Command::Eval { .. } => Ok(()),
        Command::Migrate => {
            AppState::new(config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Serve => serve(config).await,
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password,
                    first_name,
                    last_name,
                },
        } => {
            let state = AppState::new(config).await?;
            let user = admin::create(&state, &email, &password, &first_name, &last_name).await?;
            println!("admin {} created (id {})", user.email, user.id);
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::ResetPassword { email, password },
        } => {
            let state = AppState::new(config).await?;
            admin::reset_password(&state, &email, &password).await?;
            println!("password of {email} reset; their sessions were ended");
            Ok(())
        }
        Command::Import(args) => {
            let db = bodega_store::Db::connect(&config.database_url).await?;
            db.migrate().await?;
            let result = import::run_import(&db, &args).await;
            db.close().await;
            result
        }
        Command::Export(args) => {
            let db = bodega_store::Db::connect(&config.database_url).await?;
            db.migrate().await?;
            import::run_export(&db, &args).await
        }
        Command::Forecast {
            by,
            horizon,
            granularity,
            product,
            warehouse,
        } => {
            let state = AppState::new(config.clone()).await?;
            forecast_all(&state, &by, horizon, &granularity, product, warehouse).await
        }
        Command::Train {
            command: TrainCommand::Recommendations,
        } => {
            let state = AppState::new(config.clone()).await?;
            train_recommendations(&state).await
        }
        Command::Demo { online_retail } => {
            let state = AppState::new(config.clone()).await?;
            if let Some(file) = online_retail {
                import::load_online_retail(&state.db, &file).await?;
            }
            demo_data(&state.db).await?;
            let trained = {
                let mut conn = state.db.read().await?;
                bodega_store::recommendations::latest_model(&mut conn.conn())
                    .await?
                    .is_some()
            };
            if !trained {
                train_recommendations(&state).await?;
            }
            // The daily aggregates behind the reports (the nightly job keeps them current).
            match bodega_server::jobs::run_now(&state, "daily-sales", "manual", None).await {
                Ok(run) => eprintln!(
                    "Daily sales aggregates: {}",
                    run.summary.or(run.error).unwrap_or_default()
                ),
                Err(e) => eprintln!("Daily sales aggregates not built: {e}"),
            }
            let password = admin::ensure_demo_admin(&state).await?;
            println!();
            println!("  Bodega demo on http://{}", config.bind);
            println!("  API docs:  http://{}/api/docs/", config.bind);
            println!("  sign in:   {} / {password}", admin::DEMO_ADMIN);
            println!("  (this password is shown only now; a new one is set at every demo start)");
            println!();
            run(state, &config.bind).await
        }
    }
}

/// Fills an empty store (no products yet) with the generated demo chain and its history.
async fn demo_data(db: &bodega_store::Db) -> anyhow::Result<()> {
    let has_products = {
        let mut conn = db.read().await?;
        let page = bodega_store::catalog::products(
            &mut conn.conn(),
            &Default::default(),
            bodega_domain::PageRequest::default(),
        )
        .await?;
        page.total > 0
    };
    if has_products {
        return Ok(());
    }
    let cfg = bodega_demo::DemoConfig::default();
    eprintln!(
        "Generating the demo store: {} shops, {} products, {} customers, {} days up to {}…",
        cfg.stores, cfg.products, cfg.customers, cfg.days, cfg.end_date
    );
    let started = std::time::Instant::now();
    let mut last_stage = String::new();
    let mut last_percent = u64::MAX;
    let summary = bodega_demo::generate(db, &cfg, |stage, done, total| {
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        if stage != last_stage || percent / 10 != last_percent / 10 || done == total {
            eprint!("\r  {stage:<10} {percent:>3} % ({done}/{total})   ");
            if done == total {
                eprintln!();
            }
            last_stage = stage.to_string();
            last_percent = percent;
        }
    })
    .await
    .context("generating the demo store")?;
    eprintln!(
        "Demo store ready in {:.1} s: {} locations, {} categories, {} products, {} suppliers, {} customers, \
         {} till sales and {} online orders ({} to {}), revenue ${} CLP, {} open stock alerts.",
        started.elapsed().as_secs_f64(),
        summary.warehouses,
        summary.categories,
        summary.products,
        summary.suppliers,
        summary.customers,
        summary.pos_sales,
        summary.orders,
        summary.first_day.map(|d| d.to_string()).unwrap_or_default(),
        summary.last_day.map(|d| d.to_string()).unwrap_or_default(),
        summary.revenue,
        summary.open_alerts,
    );
    Ok(())
}

/// Forecasts every active product (or one), every category or every store with a progress bar;
/// prints the models chosen.
async fn forecast_all(
    state: &AppState,
    by: &str,
    horizon: Option<usize>,
    granularity: &str,
    product: Option<i64>,
    warehouse: Option<i64>,
) -> anyhow::Result<()> {
    use bodega_server::forecasting::{self, Granularity};
    let granularity =
        Granularity::parse(granularity).ok_or_else(|| anyhow::anyhow!("--granularity must be daily or weekly"))?;
    let horizon = horizon.unwrap_or(match granularity {
        Granularity::Daily => 28,
        Granularity::Weekly => 8,
    });
    anyhow::ensure!((1..=365).contains(&horizon), "--horizon must be between 1 and 365");
    use bodega_store::forecasts::Scope;
    let scopes: Vec<Scope> = {
        let mut conn = state.db.read().await?;
        let mut c = conn.conn();
        match (by, product) {
            ("product", Some(id)) => vec![Scope::product(id, warehouse)],
            ("product", None) => bodega_store::forecasts::active_products(&mut c)
                .await?
                .into_iter()
                .map(|p| Scope::product(p.0, warehouse))
                .collect(),
            ("category", None) => bodega_store::sql::query_scalar::<i64>("SELECT id FROM categories ORDER BY id")
                .fetch_all(&mut c)
                .await?
                .into_iter()
                .map(|id| Scope {
                    category_id: Some(id),
                    warehouse_id: warehouse,
                    ..Scope::default()
                })
                .collect(),
            ("store", None) => bodega_store::sql::query_scalar::<i64>("SELECT id FROM warehouses ORDER BY id")
                .fetch_all(&mut c)
                .await?
                .into_iter()
                .filter(|id| warehouse.is_none_or(|w| w == *id))
                .map(|id| Scope {
                    warehouse_id: Some(id),
                    ..Scope::default()
                })
                .collect(),
            ("category" | "store", Some(_)) => anyhow::bail!("--product goes with --by product only"),
            _ => anyhow::bail!("--by must be product, category or store"),
        }
    };
    let started = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new(scopes.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} forecasts {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut models: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut total = 0.0;
    for scope in &scopes {
        let f = forecasting::forecast(&state.db, *scope, granularity, horizon)
            .await
            .with_context(|| format!("forecasting {scope:?}"))?;
        total += f.points.iter().map(|p| p.mean).sum::<f64>();
        *models
            .entry(f.model.split('(').next().unwrap_or("").to_string())
            .or_default() += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!(
        "Forecast {} {by}(s), {horizon} {} period(s) ahead, in {:.1} s: {total:.0} units expected in all; stored.",
        scopes.len(),
        granularity.as_str(),
        started.elapsed().as_secs_f64()
    );
    for (model, n) in models {
        eprintln!("  {model:<16} {n}");
    }
    Ok(())
}

/// Trains the recommendation models with a progress bar and prints what was stored.
async fn train_recommendations(state: &AppState) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new_spinner()
        .with_message("training recommendation models (reading sales, evaluating on the newest four weeks, training)");
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let report = bodega_server::recommender::train::train(&state.db, None, &state.recommender_config()).await;
    bar.finish_and_clear();
    let report = report.context("training recommendations")?;
    eprintln!(
        "Recommendation model v{} trained in {} ms on {} sales, {} interactions, {} customers, {} products.",
        report.version, report.train_ms, report.baskets, report.interactions, report.customers, report.products
    );
    if let Some(models) = report.metrics.get("models").and_then(|m| m.as_object()) {
        for (name, m) in models {
            eprintln!(
                "  {name:<14} ndcg@10 {:.3}  precision@10 {:.3}  recall@10 {:.3}  hit rate@10 {:.3}",
                m["ndcg@10"].as_f64().unwrap_or(0.0),
                m["precision@10"].as_f64().unwrap_or(0.0),
                m["recall@10"].as_f64().unwrap_or(0.0),
                m["hit_rate@10"].as_f64().unwrap_or(0.0),
            );
        }
        eprintln!(
            "  (served: the engine as the API answers, best sellers' weight {} chosen on these weeks)",
            bodega_recommend::evaluate::chosen_popular_weight(&report.metrics)
        );
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.bind.clone();
    let state = AppState::new(config).await?;
    run(state, &bind).await
}

async fn run(state: AppState, bind: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!(address = %listener.local_addr()?, backend = state.db.backend().name(), "serving");
    bodega_server::serve(state, listener, bodega_server::shutdown_signal()).await
}
