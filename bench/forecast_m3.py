"""M3 side by side: statsforecast AutoETS / AutoTheta / SeasonalNaive, Prophet, and Bodega's forecasts,
all scored by the one scorer below (sMAPE and MASE as the M3 literature computes them).

Usage: python bench/forecast_m3.py baselines DATA_DIR OUT_DIR [--prophet-every K]
       python bench/forecast_m3.py score DATA_DIR OUT_DIR
`baselines` writes OUT_DIR/m3_<model>.csv (series_id,step,value) and OUT_DIR/m3_times.json;
`score` scores every OUT_DIR/m3_<model>.csv it finds (including m3_bodega.csv written by
`bodega eval forecast --forecasts`) and writes OUT_DIR/m3_scores.json and a markdown table.
"""

import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
SEASON = {"YEARLY": 1, "QUARTERLY": 4, "MONTHLY": 12, "OTHER": 1}
FREQ = {"YEARLY": "YS", "QUARTERLY": "QS", "MONTHLY": "MS", "OTHER": "W"}
PERIODS = ["YEARLY", "QUARTERLY", "MONTHLY", "OTHER"]


def load(data_dir):
    meta = pd.read_csv(os.path.join(data_dir, "m3_meta.csv"))
    series = pd.read_csv(os.path.join(data_dir, "m3_series.csv"))
    train = {k: g.sort_values("t")["value"].to_numpy(float) for k, g in series[series.part == "train"].groupby("series_id")}
    test = {k: g.sort_values("t")["value"].to_numpy(float) for k, g in series[series.part == "test"].groupby("series_id")}
    return meta, train, test


def prophet_subset(meta, every):
    """Deterministic subset: every K-th series in m3_meta.csv order, starting with the first."""
    return list(meta.series_id.iloc[::every])


def run_statsforecast(meta, train, out_dir, times):
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive

    makers = {
        "sf_autoets": lambda m: AutoETS(season_length=m),
        "sf_autotheta": lambda m: AutoTheta(season_length=m),
        "sf_seasonalnaive": lambda m: SeasonalNaive(season_length=m),
    }
    # JIT warm-up on two series so numba compilation is not counted (favours statsforecast).
    for name, make in makers.items():
        for period in ["YEARLY", "MONTHLY"]:
            ids = list(meta[meta.period == period].series_id[:2])
            df = frame(ids, train)
            StatsForecast(models=[make(SEASON[period])], freq=1, n_jobs=1).forecast(df=df, h=6)
    for name, make in makers.items():
        rows = []
        start = time.time()
        for period in PERIODS:
            sub = meta[meta.period == period]
            h = int(sub.h.iloc[0])
            df = frame(list(sub.series_id), train)
            sf = StatsForecast(models=[make(SEASON[period])], freq=1, n_jobs=2)
            fc = sf.forecast(df=df, h=h)
            fc = fc.reset_index() if "unique_id" not in fc.columns else fc
            col = [c for c in fc.columns if c not in ("unique_id", "ds")][0]
            for uid, g in fc.groupby("unique_id"):
                for step, v in enumerate(g.sort_values("ds")[col].to_numpy(), start=1):
                    rows.append((uid, step, float(v)))
        times[name] = time.time() - start
        pd.DataFrame(rows, columns=["series_id", "step", "value"]).to_csv(os.path.join(out_dir, f"m3_{name}.csv"), index=False)
        print(f"{name}: {times[name]:.1f} s", flush=True)


def frame(ids, train):
    parts = []
    for sid in ids:
        y = train[sid]
        parts.append(pd.DataFrame({"unique_id": sid, "ds": np.arange(1, len(y) + 1), "y": y}))
    return pd.concat(parts, ignore_index=True)


def run_prophet(meta, train, out_dir, times, every):
    import logging

    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.ERROR)
    logging.getLogger("prophet").setLevel(logging.ERROR)
    ids = set(prophet_subset(meta, every))
    rows = []
    start = time.time()
    for _, r in meta.iterrows():
        if r.series_id not in ids:
            continue
        y = train[r.series_id]
        ds = pd.date_range("1900-01-01", periods=len(y) + r.h, freq=FREQ[r.period])
        m = Prophet()
        m.fit(pd.DataFrame({"ds": ds[: len(y)], "y": y}))
        fc = m.predict(pd.DataFrame({"ds": ds[len(y):]}))
        for step, v in enumerate(fc.yhat.to_numpy(), start=1):
            rows.append((r.series_id, step, float(v)))
    times["prophet"] = time.time() - start
    times["prophet_series"] = len(ids)
    pd.DataFrame(rows, columns=["series_id", "step", "value"]).to_csv(os.path.join(out_dir, "m3_prophet.csv"), index=False)
    print(f"prophet: {times['prophet']:.1f} s on {len(ids)} series", flush=True)


def smape_mase(y_train, y_test, f, m):
    f = np.asarray(f, float)
    smape = float(np.mean(200.0 * np.abs(y_test - f) / (np.abs(y_test) + np.abs(f))))
    if len(y_train) > m:
        scale = float(np.mean(np.abs(y_train[m:] - y_train[:-m])))
    else:
        scale = float(np.mean(np.abs(np.diff(y_train)))) if len(y_train) > 1 else 0.0
    mase = float(np.mean(np.abs(y_test - f)) / scale) if scale > 0 else float("nan")
    return smape, mase


def score(meta, train, test, path, ids=None):
    fc = pd.read_csv(path)
    fc = {k: g.sort_values("step")["value"].to_numpy(float) for k, g in fc.groupby("series_id")}
    res = {p: [] for p in PERIODS}
    for _, r in meta.iterrows():
        if ids is not None and r.series_id not in ids:
            continue
        if r.series_id not in fc:
            continue
        res[r.period].append(smape_mase(train[r.series_id], test[r.series_id], fc[r.series_id], SEASON[r.period]))
    out = {}
    allv = []
    for p in PERIODS:
        if res[p]:
            a = np.array(res[p])
            out[p] = {"smape": float(np.mean(a[:, 0])), "mase": float(np.nanmean(a[:, 1])), "series": len(a)}
            allv.extend(res[p])
    a = np.array(allv)
    out["overall"] = {"smape": float(np.mean(a[:, 0])), "mase": float(np.nanmean(a[:, 1])), "series": len(a)}
    return out


def main():
    mode, data_dir, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    every = 10
    if "--prophet-every" in sys.argv:
        every = int(sys.argv[sys.argv.index("--prophet-every") + 1])
    os.makedirs(out_dir, exist_ok=True)
    meta, train, test = load(data_dir)
    times_path = os.path.join(out_dir, "m3_times.json")
    if mode == "baselines":
        times = {}
        run_statsforecast(meta, train, out_dir, times)
        json.dump(times, open(times_path, "w"), indent=1)
        if every > 0:
            run_prophet(meta, train, out_dir, times, every)
        times["prophet_every"] = every
        json.dump(times, open(times_path, "w"), indent=1)
        return
    times = json.load(open(times_path)) if os.path.exists(times_path) else {}
    for variant in ["bodega", "bodega_backtest", "bodega_decomposable"]:
        path = os.path.join(out_dir, f"m3_{variant}_eval.json")
        if os.path.exists(path):
            times[variant] = json.load(open(path))["overall"]["seconds"]
    every = int(times.get("prophet_every", 10))
    subset = set(prophet_subset(meta, every))
    names = ["bodega", "bodega_backtest", "bodega_decomposable", "sf_autoets", "sf_autotheta", "sf_seasonalnaive", "prophet"]
    scores = {}
    for name in names:
        path = os.path.join(out_dir, f"m3_{name}.csv")
        if not os.path.exists(path):
            continue
        scores[name] = {"all": score(meta, train, test, path) if name != "prophet" or every == 1 else None,
                        "subset": score(meta, train, test, path, subset), "seconds": times.get(name)}
    json.dump(scores, open(os.path.join(out_dir, "m3_scores.json"), "w"), indent=1)
    lines = ["| method | sMAPE | MASE | Y sMAPE | Q sMAPE | M sMAPE | O sMAPE | seconds |", "|---|---|---|---|---|---|---|---|"]
    for name, s in scores.items():
        a = s["all"]
        if a is None:
            if s["seconds"] is not None:
                b = s["subset"]["overall"]
                lines.append(f"| {name} ({b['series']} series) | {b['smape']:.2f} | {b['mase']:.3f} | | | | | {s['seconds']:.1f} |")
            continue
        secs = s["seconds"]
        secs_text = "" if secs is None else f"{secs:.1f}"
        lines.append(f"| {name} | {a['overall']['smape']:.2f} | {a['overall']['mase']:.3f} | "
                     + " | ".join(f"{a[p]['smape']:.2f}" for p in PERIODS) + f" | {secs_text} |")
    lines.append("")
    lines.append(f"Subset (every {every}th series, {len(subset)} series), for Prophet:")
    lines.append("")
    lines.append("| method | sMAPE | MASE |")
    lines.append("|---|---|---|")
    for name, s in scores.items():
        b = s["subset"]["overall"]
        lines.append(f"| {name} | {b['smape']:.2f} | {b['mase']:.3f} |")
    text = "\n".join(lines)
    open(os.path.join(out_dir, "m3_table.md"), "w").write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
