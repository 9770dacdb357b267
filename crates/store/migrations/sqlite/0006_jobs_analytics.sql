-- Kept in lock-step with ../postgres/0006_jobs_analytics.sql.
-- Scheduled jobs (issue 5): every run, scheduled or on demand, with its outcome. At most one
-- run of a job is 'running' at a time, also across replicas: the partial unique index is the
-- claim.
CREATE TABLE job_runs (
    id          INTEGER PRIMARY KEY,
    job         TEXT NOT NULL,
    trigger     TEXT NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    summary     TEXT,
    error       TEXT
);
CREATE INDEX ix_job_runs_job ON job_runs (job, id);
CREATE UNIQUE INDEX ux_job_runs_running ON job_runs (job) WHERE status = 'running';

-- Sales per day × store × product, rebuilt for closed days by the nightly 'daily-sales' job
-- (today is always read live from the sales). Money in minor units; cost of goods at the unit
-- cost recorded on each sale line (the average cost when it was sold).
CREATE TABLE sales_daily (
    day          TEXT NOT NULL,
    warehouse_id BIGINT NOT NULL,
    product_id   BIGINT NOT NULL,
    units        BIGINT NOT NULL,
    revenue      BIGINT NOT NULL,
    cogs         BIGINT NOT NULL,
    sales        BIGINT NOT NULL,
    PRIMARY KEY (day, warehouse_id, product_id)
);
CREATE INDEX ix_sales_daily_product ON sales_daily (product_id, day);
