//! Account set-up from the command line: the first admin, password resets, the demo admin.

use anyhow::{bail, Context};

use bodega_domain::Email;
use bodega_server::auth::{password, tokens::random_secret};
use bodega_server::AppState;
use bodega_store::audit::Actor;
use bodega_store::users::{self, NewUser, User};
use bodega_store::{roles, sessions};

pub const DEMO_ADMIN: &str = "admin@bodega.local";

pub async fn create(state: &AppState, email: &str, password: &str, first: &str, last: &str) -> anyhow::Result<User> {
    let email = Email::parse("email", email).map_err(|e| anyhow::anyhow!("{e}"))?;
    password::check_policy("password", password).map_err(|e| anyhow::anyhow!("password {e}"))?;
    let hash = password::hash(password).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut tx = state.db.begin().await?;
    let role = roles::find_by_name(&mut tx.conn(), "admin")
        .await
        .context("admin role")?;
    let new = NewUser {
        email: email.into_inner(),
        password_hash: hash,
        first_name: first.trim().to_string(),
        last_name: last.trim().to_string(),
        phone: None,
        role_id: role.id,
    };
    let user = users::create(&mut tx.conn(), &Actor::system("cli"), &new)
        .await
        .map_err(|e| match e {
            bodega_store::StoreError::Conflict { .. } => {
                anyhow::anyhow!("a user with e-mail {} already exists", new.email)
            }
            other => other.into(),
        })?;
    tx.commit().await?;
    Ok(user)
}

pub async fn reset_password(state: &AppState, email: &str, password: &str) -> anyhow::Result<()> {
    password::check_policy("password", password).map_err(|e| anyhow::anyhow!("password {e}"))?;
    let email = email.trim().to_lowercase();
    let hash = password::hash(password).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut tx = state.db.begin().await?;
    let Some(credentials) = users::credentials_by_email(&mut tx.conn(), &email).await? else {
        bail!("no user with e-mail {email}");
    };
    let actor = Actor::system("cli");
    users::set_password(&mut tx.conn(), &actor, credentials.id, &hash).await?;
    sessions::revoke_all_for_user(&mut tx.conn(), credentials.id, None, "password reset from the CLI").await?;
    tx.commit().await?;
    Ok(())
}

/// Makes sure the demo admin exists and gives it a fresh random password, returned to print.
pub async fn ensure_demo_admin(state: &AppState) -> anyhow::Result<String> {
    let password = random_secret("").chars().take(16).collect::<String>();
    let exists = {
        let mut conn = state.db.read().await?;
        users::credentials_by_email(&mut conn.conn(), DEMO_ADMIN)
            .await?
            .is_some()
    };
    if exists {
        reset_password(state, DEMO_ADMIN, &password).await?;
    } else {
        create(state, DEMO_ADMIN, &password, "Demo", "Admin").await?;
    }
    Ok(password)
}
