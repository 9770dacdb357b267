//! `bodega`: the server and the command line in one binary.

use anyhow::Context;
use clap::{Parser, Subcommand};

use bodega_server::{AppState, Config};

mod admin;

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
    Demo,
    /// Print the version.
    Version,
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
    let config = Config::load().context("reading configuration")?;
    bodega_server::telemetry::init(&config.log_format, &config.log_level);
    match cli.command {
        Command::Version => Ok(()),
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
        Command::Demo => {
            let state = AppState::new(config.clone()).await?;
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
