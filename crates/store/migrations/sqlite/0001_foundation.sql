-- Foundation: settings, auth (roles, users, sessions, API keys), audit log, people.
-- Kept in lock-step with ../postgres/0001_foundation.sql (a test compares both schemas).

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE roles (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    permissions TEXT NOT NULL,
    is_system   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX ux_roles_name ON roles (name);

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    email               TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    first_name          TEXT NOT NULL DEFAULT '',
    last_name           TEXT NOT NULL DEFAULT '',
    phone               TEXT,
    role_id             BIGINT NOT NULL REFERENCES roles (id),
    is_active           BOOLEAN NOT NULL DEFAULT TRUE,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    last_login_at       TEXT,
    password_changed_at TEXT NOT NULL
);
CREATE UNIQUE INDEX ux_users_email ON users (email);
CREATE INDEX ix_users_role ON users (role_id);

CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY,
    user_id            BIGINT NOT NULL REFERENCES users (id),
    refresh_hash       TEXT NOT NULL,
    previous_hash      TEXT,
    created_at         TEXT NOT NULL,
    refreshed_at       TEXT NOT NULL,
    expires_at         TEXT NOT NULL,
    revoked_at         TEXT,
    revoked_reason     TEXT,
    ip                 TEXT,
    user_agent         TEXT
);
CREATE UNIQUE INDEX ux_sessions_refresh_hash ON sessions (refresh_hash);
CREATE INDEX ix_sessions_previous_hash ON sessions (previous_hash);
CREATE INDEX ix_sessions_user ON sessions (user_id);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    created_by   BIGINT REFERENCES users (id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE UNIQUE INDEX ux_api_keys_key_hash ON api_keys (key_hash);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    BIGINT,
    actor_label TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    resource_id TEXT,
    request_id  TEXT,
    ip          TEXT,
    before      TEXT,
    after       TEXT
);
CREATE INDEX ix_audit_log_at ON audit_log (at);
CREATE INDEX ix_audit_log_resource ON audit_log (resource, resource_id);

CREATE TABLE customers (
    id         INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name  TEXT NOT NULL DEFAULT '',
    email      TEXT,
    phone      TEXT,
    address    TEXT,
    rut        TEXT,
    notes      TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX ux_customers_email ON customers (email) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX ux_customers_rut ON customers (rut) WHERE deleted_at IS NULL;
CREATE INDEX ix_customers_name ON customers (last_name, first_name);

CREATE TABLE employees (
    id            INTEGER PRIMARY KEY,
    user_id       BIGINT REFERENCES users (id),
    employee_code TEXT NOT NULL,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL DEFAULT '',
    email         TEXT,
    phone         TEXT,
    rut           TEXT,
    department    TEXT,
    position      TEXT,
    hire_date     DATE,
    salary        BIGINT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted_at    TEXT
);
CREATE UNIQUE INDEX ux_employees_employee_code ON employees (employee_code) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX ux_employees_email ON employees (email) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX ux_employees_rut ON employees (rut) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX ux_employees_user_id ON employees (user_id) WHERE deleted_at IS NULL;

CREATE TABLE suppliers (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    contact_name   TEXT,
    email          TEXT,
    phone          TEXT,
    address        TEXT,
    rut            TEXT,
    lead_time_days INTEGER NOT NULL DEFAULT 7,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    deleted_at     TEXT
);
CREATE UNIQUE INDEX ux_suppliers_rut ON suppliers (rut) WHERE deleted_at IS NULL;
CREATE INDEX ix_suppliers_name ON suppliers (name);
