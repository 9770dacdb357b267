//! Demand forecasting in the ERP: per-product demand history from the sales, forecasts by the
//! `bodega-forecast` engine (automatic model choice, 80%/95% intervals), stored so that their
//! accuracy is measured when the actuals arrive, the decomposable model's components for
//! plots, and reorder advice from the forecasts.

use chrono::{Datelike, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use bodega_forecast::auto::{self, Options};
use bodega_forecast::reorder::{self, ReorderAdvice, ReorderInput};
use bodega_forecast::{decomposable, metrics, Forecast, Z80};
use bodega_store::forecasts::{self, AccuracyRow, NewForecast, Replenishment, Scope, StoredForecast};
use bodega_store::Db;

/// Days or weeks (weeks start on Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Daily,
    Weekly,
}

impl Granularity {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "daily" => Some(Self::Daily),
            "weekly" => Some(Self::Weekly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }

    pub fn days(self) -> i64 {
        match self {
            Self::Daily => 1,
            Self::Weekly => 7,
        }
    }

    /// Season length: a week of days, a year of weeks.
    pub fn season(self) -> usize {
        match self {
            Self::Daily => 7,
            Self::Weekly => 52,
        }
    }

    /// The start of the period holding `day`.
    pub fn period_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Self::Daily => day,
            Self::Weekly => day - TimeDelta::days(day.weekday().num_days_from_monday() as i64),
        }
    }
}

/// Units sold per period from the first sale to the last closed period before `until`.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Start of the first period (None: never sold).
    pub start: Option<NaiveDate>,
    pub values: Vec<f64>,
    /// Of `values`, the units sold below the product's list price (on promotion).
    pub promoted: Vec<f64>,
    /// Start of the first period not in the history (the first forecast period).
    pub next: NaiveDate,
}

/// The demand history of a scope: closed periods only (today, or this week, is not over).
pub async fn history(db: &Db, scope: &Scope, granularity: Granularity, today: NaiveDate) -> anyhow::Result<History> {
    let next = granularity.period_of(today);
    let rows = {
        let mut reader = db.read().await?;
        forecasts::daily_units(&mut reader.conn(), scope, next).await?
    };
    let Some(&(first, _, _)) = rows.first() else {
        return Ok(History {
            start: None,
            values: Vec::new(),
            promoted: Vec::new(),
            next,
        });
    };
    let start = granularity.period_of(first);
    let periods = ((next - start).num_days() / granularity.days()).max(0) as usize;
    let mut values = vec![0.0; periods];
    let mut promoted = vec![0.0; periods];
    for (day, units, on_promotion) in rows {
        let index = ((granularity.period_of(day) - start).num_days() / granularity.days()) as usize;
        if let (Some(v), Some(p)) = (values.get_mut(index), promoted.get_mut(index)) {
            *v += units as f64;
            *p += on_promotion as f64;
        }
    }
    Ok(History {
        start: Some(start),
        values,
        promoted,
        next,
    })
}

/// One forecast period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Point {
    pub period: NaiveDate,
    pub mean: f64,
    pub lower80: f64,
    pub upper80: f64,
    pub lower95: f64,
    pub upper95: f64,
}

/// A forecast as served and stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DemandForecast {
    /// The stored forecast's id (its accuracy is measured later).
    pub id: i64,
    /// "product", "category" (with its subcategories) or "store" (every product).
    pub level: &'static str,
    pub product_id: Option<i64>,
    pub category_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub granularity: Granularity,
    /// The model chosen for this product by backtest, e.g. "ETS(A,N,N)", "CrostonSBA".
    pub model: String,
    /// Periods of history used.
    pub history_periods: usize,
    pub points: Vec<Point>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Runs the engine on a history.
pub fn predict(history: &History, granularity: Granularity, horizon: usize) -> Forecast {
    auto::forecast(&history.values, &options(granularity, horizon))
}

fn options(granularity: Granularity, horizon: usize) -> Options {
    let mut options = Options::new(granularity.season(), horizon);
    options.spacing_days = granularity.days();
    options
}

fn points(forecast: &Forecast, first: NaiveDate, granularity: Granularity) -> Vec<Point> {
    (0..forecast.mean.len())
        .map(|i| Point {
            period: first + TimeDelta::days(i as i64 * granularity.days()),
            mean: round3(forecast.mean[i]),
            lower80: round3(forecast.lower80[i]),
            upper80: round3(forecast.upper80[i]),
            lower95: round3(forecast.lower95[i]),
            upper95: round3(forecast.upper95[i]),
        })
        .collect()
}

/// Forecasts the demand of a product, a category or a store and stores the forecast.
pub async fn forecast(
    db: &Db,
    scope: Scope,
    granularity: Granularity,
    horizon: usize,
) -> anyhow::Result<DemandForecast> {
    let today = Utc::now().date_naive();
    let history = history(db, &scope, granularity, today).await?;
    let forecast = if history.values.is_empty() {
        Forecast::from_sd("NoSales", vec![0.0; horizon], &[0.0], Some(0.0))
    } else {
        let h = history.clone();
        tokio::task::spawn_blocking(move || predict(&h, granularity, horizon)).await?
    };
    let points = points(&forecast, history.next, granularity);
    let stored: StoredForecast = {
        let mut tx = db.begin().await?;
        let stored = forecasts::save(
            &mut tx.conn(),
            &NewForecast {
                scope,
                granularity: granularity.as_str(),
                horizon: horizon as i64,
                model: &forecast.model,
                first_period: history.next,
                history_from: history.start.unwrap_or(history.next),
                points: serde_json::to_string(&points)?,
            },
        )
        .await?;
        tx.commit().await?;
        stored
    };
    Ok(DemandForecast {
        id: stored.id,
        level: scope.level(),
        product_id: scope.product_id,
        category_id: scope.category_id,
        warehouse_id: scope.warehouse_id,
        granularity,
        model: forecast.model,
        history_periods: history.values.len(),
        points,
    })
}

/// The decomposable model's components over history and horizon, for plots.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComponentSeries {
    pub level: &'static str,
    pub product_id: Option<i64>,
    pub category_id: Option<i64>,
    pub warehouse_id: Option<i64>,
    pub granularity: Granularity,
    /// Period starts: history then horizon.
    pub periods: Vec<NaiveDate>,
    /// Units sold per history period (null over the horizon).
    pub actual: Vec<Option<f64>>,
    pub trend: Vec<f64>,
    pub weekly: Vec<f64>,
    pub yearly: Vec<f64>,
    /// Effect of the shop's holidays (config `holidays`).
    pub holidays: Vec<f64>,
    /// Effect of promotions: learnt from past sales below list price, applied on the planned
    /// promotion days of the horizon (zeros when history has no promotion).
    pub promotion: Vec<f64>,
    pub fitted: Vec<f64>,
    pub lower95: Vec<Option<f64>>,
    pub upper95: Vec<Option<f64>>,
    /// Why the series are empty, when they are (no or too little history).
    pub note: Option<String>,
}

/// What the decomposable model is told beside the sales: the shop's holidays (each its own
/// effect) and the days of planned promotions over the horizon. Past promotions are read from
/// the sales: the share of a period's units sold below the product's list price.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    pub holidays: Vec<NaiveDate>,
    pub planned_promotions: Vec<NaiveDate>,
}

pub async fn components(
    db: &Db,
    scope: Scope,
    granularity: Granularity,
    horizon: usize,
    calendar: &Calendar,
) -> anyhow::Result<ComponentSeries> {
    let today = Utc::now().date_naive();
    let history = history(db, &scope, granularity, today).await?;
    let empty = |note: String| ComponentSeries {
        level: scope.level(),
        product_id: scope.product_id,
        category_id: scope.category_id,
        warehouse_id: scope.warehouse_id,
        granularity,
        periods: Vec::new(),
        actual: Vec::new(),
        trend: Vec::new(),
        weekly: Vec::new(),
        yearly: Vec::new(),
        holidays: Vec::new(),
        promotion: Vec::new(),
        fitted: Vec::new(),
        lower95: Vec::new(),
        upper95: Vec::new(),
        note: Some(note),
    };
    let Some(start) = history.start else {
        return Ok(empty("no sales in closed periods yet".into()));
    };
    let epoch = |d: NaiveDate| d.num_days_from_ce() as i64;
    let step = granularity.days();
    let past: Vec<NaiveDate> = (0..history.values.len())
        .map(|i| start + TimeDelta::days(i as i64 * step))
        .collect();
    let future: Vec<NaiveDate> = (0..horizon)
        .map(|i| history.next + TimeDelta::days(i as i64 * step))
        .collect();
    let days: Vec<i64> = past.iter().map(|d| epoch(*d)).collect();
    let future_days: Vec<i64> = future.iter().map(|d| epoch(*d)).collect();
    let values = history.values.clone();
    // A holiday counts in the period that holds it (its week, for weekly forecasts).
    let holidays: Vec<decomposable::Holiday> = calendar
        .holidays
        .iter()
        .map(|d| decomposable::Holiday {
            // One shared effect, learnt from past holidays and applied to the coming ones.
            name: "holiday".into(),
            day: epoch(granularity.period_of(*d)),
        })
        .collect();
    let promotion_share: Vec<f64> = history
        .values
        .iter()
        .zip(&history.promoted)
        .map(|(v, p)| if *v > 0.0 { p / v } else { 0.0 })
        .collect();
    let planned: Vec<f64> = future
        .iter()
        .map(|period| {
            let end = *period + TimeDelta::days(step);
            let days = calendar
                .planned_promotions
                .iter()
                .filter(|d| **d >= *period && **d < end)
                .count();
            days as f64 / step as f64
        })
        .collect();
    // Without any promotion in history the effect cannot be learnt: no regressor.
    let regressors: Vec<decomposable::Regressor> = if promotion_share.iter().any(|s| *s > 0.0) {
        vec![decomposable::Regressor {
            name: "promotion".into(),
            history: promotion_share,
            future: planned,
        }]
    } else {
        Vec::new()
    };
    let fitted = tokio::task::spawn_blocking(move || {
        decomposable::fit(
            &days,
            &values,
            &future_days,
            &holidays,
            &regressors,
            &decomposable::Options::default(),
        )
    })
    .await?;
    let c = match fitted {
        Ok(c) => c,
        Err(why) => return Ok(empty(why)),
    };
    let n = history.values.len();
    let pad = |v: &[f64]| -> Vec<Option<f64>> {
        std::iter::repeat_n(None, n)
            .chain(v.iter().map(|x| Some(round3(*x))))
            .collect()
    };
    Ok(ComponentSeries {
        level: scope.level(),
        product_id: scope.product_id,
        category_id: scope.category_id,
        warehouse_id: scope.warehouse_id,
        granularity,
        periods: past.into_iter().chain(future).collect(),
        actual: history
            .values
            .iter()
            .map(|v| Some(*v))
            .chain(std::iter::repeat_n(None, horizon))
            .collect(),
        trend: c.trend.iter().map(|x| round3(*x)).collect(),
        weekly: c.weekly.iter().map(|x| round3(*x)).collect(),
        yearly: c.yearly.iter().map(|x| round3(*x)).collect(),
        holidays: c.holidays.iter().map(|x| round3(*x)).collect(),
        promotion: c
            .regressors
            .iter()
            .find(|(name, _)| name == "promotion")
            .map(|(_, v)| v.iter().map(|x| round3(*x)).collect())
            .unwrap_or_else(|| vec![0.0; c.yhat.len()]),
        fitted: c.yhat.iter().map(|x| round3(*x)).collect(),
        lower95: pad(&c.lower95),
        upper95: pad(&c.upper95),
        note: None,
    })
}

/// Measures every stored forecast whose periods have all passed and records its accuracy
/// (with the product's or the forecast's category, and its store). Idempotent: a forecast is measured once.
pub async fn accuracy_job(db: &Db) -> anyhow::Result<String> {
    let today = Utc::now().date_naive();
    let pending = {
        let mut reader = db.read().await?;
        forecasts::without_accuracy(&mut reader.conn(), 10_000).await?
    };
    let (mut measured, mut waiting) = (0, 0);
    for f in pending {
        let Some(granularity) = Granularity::parse(&f.granularity) else {
            continue;
        };
        let end = f.first_period + TimeDelta::days(f.horizon * granularity.days());
        if end > today {
            waiting += 1;
            continue;
        }
        let points: Vec<Point> = serde_json::from_str(&f.points)?;
        let full = history(db, &f.scope(), granularity, end).await?;
        let offset = |d: NaiveDate| {
            full.start
                .map(|s| (d - s).num_days() / granularity.days())
                .unwrap_or(-1)
        };
        let actual: Vec<f64> = points
            .iter()
            .map(|p| {
                usize::try_from(offset(p.period))
                    .ok()
                    .and_then(|i| full.values.get(i))
                    .copied()
                    .unwrap_or(0.0)
            })
            .collect();
        let train_len = usize::try_from(offset(f.first_period))
            .unwrap_or(0)
            .min(full.values.len());
        let train = &full.values[..train_len];
        let predicted: Vec<f64> = points.iter().map(|p| p.mean).collect();
        let accuracy = metrics::accuracy(train, &actual, &predicted, granularity.season());
        let clean = |x: f64| if x.is_finite() { Some(round3(x)) } else { None };
        let metrics = serde_json::json!({
            "mape": clean(accuracy.mape), "smape": clean(accuracy.smape), "mase": clean(accuracy.mase),
            "wape": clean(accuracy.wape), "bias": clean(accuracy.bias), "relative_bias": clean(accuracy.relative_bias),
            "actual": actual, "forecast": predicted,
        });
        let mut tx = db.begin().await?;
        let category_id = match f.product_id {
            Some(product_id) => bodega_store::sql::query_scalar("SELECT category_id FROM products WHERE id = $1")
                .bind(product_id)
                .fetch_optional(&mut tx.conn())
                .await?
                .flatten(),
            None => f.category_id,
        };
        let stored = forecasts::save_accuracy(
            &mut tx.conn(),
            &AccuracyRow {
                forecast_id: f.id,
                product_id: f.product_id,
                category_id,
                warehouse_id: f.warehouse_id,
                granularity: f.granularity.clone(),
                periods: points.len() as i64,
                metrics: metrics.to_string(),
                computed_at: bodega_store::now(),
            },
        )
        .await?;
        tx.commit().await?;
        if stored {
            measured += 1;
        }
    }
    Ok(format!("{measured} forecast(s) measured; {waiting} still running"))
}

/// Reorder advice for one product.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProductAdvice {
    pub product_id: i64,
    pub model: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub on_order: i64,
    pub settings: Replenishment,
    /// Daily demand forecast over lead time + review period.
    pub daily_forecast: Vec<f64>,
    /// Standard deviation of one day's forecast error (from the 80% interval).
    pub error_sd: f64,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub advice: ReorderAdvice,
}

/// Reorder advice for one product from its daily forecast.
pub async fn advise(
    db: &Db,
    product_id: i64,
    warehouse_id: Option<i64>,
    service_level: f64,
) -> anyhow::Result<ProductAdvice> {
    let (settings, (on_hand, reserved, on_order)) = {
        let mut reader = db.read().await?;
        let mut c = reader.conn();
        (
            forecasts::replenishment(&mut c, product_id).await?,
            forecasts::position(&mut c, product_id, warehouse_id).await?,
        )
    };
    let horizon = (settings.lead_time_days + settings.review_days).max(7) as usize;
    let today = Utc::now().date_naive();
    let history = history(db, &Scope::product(product_id, warehouse_id), Granularity::Daily, today).await?;
    let forecast = if history.values.is_empty() {
        Forecast::from_sd("NoSales", vec![0.0; horizon], &[0.0], Some(0.0))
    } else {
        // Expected demand (a mean), not each day's likeliest value: see `Options::allow_median`.
        let mut options = options(Granularity::Daily, horizon);
        options.allow_median = false;
        tokio::task::spawn_blocking(move || auto::forecast(&history.values, &options)).await?
    };
    let error_sd = forecast
        .upper80
        .first()
        .zip(forecast.mean.first())
        .map(|(u, m)| ((u - m) / Z80).max(0.0))
        .unwrap_or(0.0);
    let advice = reorder::advise(&ReorderInput {
        forecast: &forecast.mean,
        error_sd,
        lead_time: settings.lead_time_days as f64,
        review_period: settings.review_days as f64,
        service_level,
        on_hand: on_hand as f64,
        on_order: on_order as f64,
        reserved: reserved as f64,
        min_order_qty: settings.min_order_qty as f64,
        pack_size: settings.pack_size as f64,
    });
    Ok(ProductAdvice {
        product_id,
        model: forecast.model,
        on_hand,
        reserved,
        on_order,
        settings,
        daily_forecast: forecast.mean.iter().map(|x| round3(*x)).collect(),
        error_sd: round3(error_sd),
        advice,
    })
}
