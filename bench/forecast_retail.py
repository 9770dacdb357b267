"""Online Retail demand per product, weekly or daily: Bodega vs seasonal naive, statsforecast
CrostonSBA / AutoETS and Prophet, scored by pooled WAPE = sum|y - f| / sum|y| over all products'
held-out periods.

Clean lines: invoice not starting with 'C', Quantity > 0. Weeks start on Monday (2010-11-29);
every product's series covers every period (0 when not sold). Products sold in at least 30
weeks; the last 8 weeks (8 weeks or 56 days) are held out. Daily series have a weekly season
(7); weekly series none (one year of history is too short for a yearly one).

Usage: python bench/forecast_retail.py prepare CSV OUT_DIR [daily]   (writes retail[_daily]_series.csv
                                      and _meta.csv in the M3 layout that `bodega eval forecast` reads)
       python bench/forecast_retail.py baselines OUT_DIR [daily]
       python bench/forecast_retail.py score OUT_DIR [daily]
"""

import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
MIN_WEEKS = 30
START = pd.Timestamp("2010-11-29")
DAILY = sys.argv[-1] == "daily"
H = 56 if DAILY else 8
SEASON = 7 if DAILY else 1
PREFIX = "retail_daily" if DAILY else "retail"
UNIT = "days" if DAILY else "weeks"


def prepare(csv, out_dir):
    df = pd.read_csv(csv, usecols=["InvoiceNo", "StockCode", "Quantity", "InvoiceDate"], dtype={"InvoiceNo": str, "StockCode": str})
    df = df[~df.InvoiceNo.str.startswith("C") & (df.Quantity > 0)]
    days = (pd.to_datetime(df.InvoiceDate) - START).dt.days
    week = (days // 7).astype(int)
    weekly = df.assign(week=week).groupby(["StockCode", "week"]).Quantity.sum().unstack(fill_value=0)
    weekly = weekly.reindex(columns=range(week.min(), week.max() + 1), fill_value=0)
    weekly = weekly[(weekly > 0).sum(axis=1) >= MIN_WEEKS]
    series = weekly
    if DAILY:
        daily = df.assign(day=days.astype(int)).groupby(["StockCode", "day"]).Quantity.sum().unstack(fill_value=0)
        series = daily.reindex(index=weekly.index, columns=range(days.min(), days.max() + 1), fill_value=0)
    n = series.shape[1] - H
    rows, meta = [], []
    for sid, vals in series.iterrows():
        v = vals.to_numpy(float)
        meta.append((sid, n, H, "DAILY" if DAILY else "WEEKLY", "RETAIL", ""))
        for t, x in enumerate(v, start=1):
            rows.append((sid, "train" if t <= n else "test", t, x))
    pd.DataFrame(rows, columns=["series_id", "part", "t", "value"]).to_csv(os.path.join(out_dir, f"{PREFIX}_series.csv"), index=False)
    pd.DataFrame(meta, columns=["series_id", "n", "h", "period", "type", "description"]).to_csv(
        os.path.join(out_dir, f"{PREFIX}_meta.csv"), index=False)
    print(f"{len(meta)} products, {series.shape[1]} {UNIT} ({n} train, {H} held out)")


def load(out_dir):
    s = pd.read_csv(os.path.join(out_dir, f"{PREFIX}_series.csv"), dtype={"series_id": str})
    train = {k: g.sort_values("t").value.to_numpy(float) for k, g in s[s.part == "train"].groupby("series_id")}
    test = {k: g.sort_values("t").value.to_numpy(float) for k, g in s[s.part == "test"].groupby("series_id")}
    return train, test


def baselines(out_dir):
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, CrostonSBA, SeasonalNaive

    train, _ = load(out_dir)
    parts = [pd.DataFrame({"unique_id": k, "ds": np.arange(1, len(v) + 1), "y": v}) for k, v in train.items()]
    df = pd.concat(parts, ignore_index=True)
    times = {}
    for name, model in [("naive", SeasonalNaive(season_length=SEASON)), ("sf_crostonsba", CrostonSBA()),
                        ("sf_autoets", AutoETS(season_length=SEASON))]:
        StatsForecast(models=[model], freq=1, n_jobs=1).forecast(df=df[df.unique_id.isin(list(train)[:2])], h=H)
        start = time.time()
        fc = StatsForecast(models=[model], freq=1, n_jobs=2).forecast(df=df, h=H)
        times[name] = time.time() - start
        col = [c for c in fc.columns if c not in ("unique_id", "ds")][0]
        out = fc.rename(columns={col: "value"})
        out["step"] = out.groupby("unique_id").cumcount() + 1
        out.rename(columns={"unique_id": "series_id"})[["series_id", "step", "value"]].to_csv(
            os.path.join(out_dir, f"{PREFIX}_{name}.csv"), index=False)
        print(f"{name}: {times[name]:.1f} s", flush=True)

    import logging

    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
    logging.getLogger("prophet").setLevel(logging.ERROR)
    rows = []
    start = time.time()
    for k, v in train.items():
        if DAILY:
            ds = pd.date_range(START + pd.Timedelta(days=2), periods=len(v) + H, freq="D")
        else:
            ds = pd.date_range(START, periods=len(v) + H, freq="W-MON")
        m = Prophet(weekly_seasonality=DAILY, daily_seasonality=False)
        m.fit(pd.DataFrame({"ds": ds[: len(v)], "y": v}))
        f = m.predict(pd.DataFrame({"ds": ds[len(v):]})).yhat.to_numpy()
        rows.extend((k, i + 1, float(x)) for i, x in enumerate(f))
    times["prophet"] = time.time() - start
    pd.DataFrame(rows, columns=["series_id", "step", "value"]).to_csv(os.path.join(out_dir, f"{PREFIX}_prophet.csv"), index=False)
    print(f"prophet: {times['prophet']:.1f} s", flush=True)
    json.dump(times, open(os.path.join(out_dir, f"{PREFIX}_times.json"), "w"), indent=1)


def score(out_dir):
    train, test = load(out_dir)
    times = {}
    p = os.path.join(out_dir, f"{PREFIX}_times.json")
    if os.path.exists(p):
        times = json.load(open(p))
    for variant in ["bodega", "bodega_backtest", "bodega_decomposable"]:
        b = os.path.join(out_dir, f"{PREFIX}_{variant}_eval.json")
        if os.path.exists(b):
            times[variant] = json.load(open(b))["overall"]["seconds"]
    lines = ["| method | WAPE | WAPE (forecasts clipped at 0) | seconds |", "|---|---|---|---|"]
    result = {}
    for name in ["bodega", "bodega_backtest", "bodega_decomposable", "naive", "sf_crostonsba", "sf_autoets", "prophet", "zero"]:
        path = os.path.join(out_dir, f"{PREFIX}_{name}.csv")
        if name == "zero":
            result[name] = {"wape": 1.0, "wape_clipped": 1.0, "seconds": 0.0}
            lines.append("| zero (forecast nothing) | 1.000 | 1.000 | |")
            continue
        if not os.path.exists(path):
            continue
        fc = pd.read_csv(path, dtype={"series_id": str})
        fc = {k: g.sort_values("step").value.to_numpy(float) for k, g in fc.groupby("series_id")}
        num = num0 = den = 0.0
        for k, y in test.items():
            f = fc[k]
            num += np.abs(y - f).sum()
            num0 += np.abs(y - np.maximum(f, 0)).sum()
            den += np.abs(y).sum()
        result[name] = {"wape": num / den, "wape_clipped": num0 / den, "seconds": times.get(name)}
        secs = times.get(name)
        lines.append(f"| {name} | {num / den:.3f} | {num0 / den:.3f} | {'' if secs is None else f'{secs:.1f}'} |")
    json.dump(result, open(os.path.join(out_dir, f"{PREFIX}_scores.json"), "w"), indent=1)
    text = "\n".join(lines)
    open(os.path.join(out_dir, f"{PREFIX}_table.md"), "w").write(f"{len(test)} products, last {H} {UNIT} held out\n\n" + text + "\n")
    print(f"{len(test)} products, last {H} {UNIT} held out")
    print(text)


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "baselines":
        baselines(sys.argv[2])
    else:
        score(sys.argv[2])
