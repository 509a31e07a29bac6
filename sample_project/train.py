"""Stage 2: train the nightly-price model.

    python train.py [--features features/listings.csv] [--model-dir model]
                    [--params params.yaml] [--metrics metrics.json]

Reads the feature table from ``prepare.py`` and the ``train:`` section of
``params.yaml``, fits a gradient-boosted tree regressor on a seeded
train/test split, and writes:

* ``<model-dir>/model.pkl`` - the fitted estimator plus the feature column
  names it expects, pickled together so a consumer cannot mix them up;
* ``metrics.json`` - test-set rmse, mae and r2 (in price units) and the split
  sizes, rounded to 4 decimals with sorted keys, so identical runs give
  identical bytes and mlver can compare metrics between versions.

Everything random takes ``seed``, so the same data and params give the same
model and metrics.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits  # installed with scikit-learn

DEFAULTS = {
    "model": "hist_gradient_boosting",  # or "random_forest"
    "n_estimators": 100,
    "max_depth": 6,
    "learning_rate": 0.1,  # used by hist_gradient_boosting only
    "log_target": True,
    "test_size": 0.2,
    "seed": 42,
}
TARGET = "price"
# Not model inputs: the key, and price_per_person, which is the target in
# disguise (price / accommodates) and would leak the answer.
EXCLUDE = {"listing_id", TARGET, "price_per_person"}


def load_params(path: Path) -> dict:
    """Return the ``train:`` settings, falling back to ``DEFAULTS``."""
    with open(path, encoding="utf-8") as fh:
        section = (yaml.safe_load(fh) or {}).get("train") or {}
    unknown = set(section) - set(DEFAULTS)
    if unknown:  # a typo in params.yaml should fail loudly, not be ignored
        raise SystemExit(f"unknown train params: {sorted(unknown)}")
    return {**DEFAULTS, **section}


def build_model(p: dict):
    """Make the (unfitted) estimator described by the params."""
    if p["model"] == "hist_gradient_boosting":
        # early_stopping=False: with it on, sklearn holds out a random
        # validation slice only above 10k rows, so the model would change
        # character as months are added. Off, n_estimators means what it says.
        model = HistGradientBoostingRegressor(
            max_iter=p["n_estimators"],
            max_depth=p["max_depth"],
            learning_rate=p["learning_rate"],
            early_stopping=False,
            random_state=p["seed"],
        )
    elif p["model"] == "random_forest":
        # n_jobs=1: a deterministic, predictable runtime on small machines.
        model = RandomForestRegressor(
            n_estimators=p["n_estimators"], max_depth=p["max_depth"], random_state=p["seed"], n_jobs=1
        )
    else:
        raise SystemExit(f"unknown model {p['model']!r}; use hist_gradient_boosting or random_forest")
    if p["log_target"]:
        # Prices are multiplicative and right-skewed: fitting log(price) keeps
        # expensive listings from dominating the squared-error loss.
        model = TransformedTargetRegressor(regressor=model, func=np.log1p, inverse_func=np.expm1)
    return model


def make_portable(model) -> None:
    """Drop the fit-time thread count that HistGradientBoosting keeps.

    Its private binning helper remembers how many OpenMP threads the machine
    had, so the same fit pickled on a 2-core and an 8-core machine would differ
    in bytes and look like a changed model. ``None`` means "use what is there"
    and is only read during fitting, so predictions are unaffected.
    """
    est = getattr(model, "regressor_", model)
    bin_mapper = getattr(est, "_bin_mapper", None)
    if bin_mapper is not None and hasattr(bin_mapper, "n_threads"):
        bin_mapper.n_threads = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default="features/listings.csv", type=Path, help="feature CSV")
    parser.add_argument("--model-dir", default="model", type=Path, help="folder for model.pkl")
    parser.add_argument("--params", default="params.yaml", type=Path, help="params file")
    parser.add_argument("--metrics", default="metrics.json", type=Path, help="metrics output")
    args = parser.parse_args()

    params = load_params(args.params)
    df = pd.read_csv(args.features)
    # Numeric columns only (the one-hot columns stand in for the categories),
    # sorted so the column order never depends on the CSV's.
    features = sorted(c for c in df.select_dtypes("number").columns if c not in EXCLUDE)
    X, y = df[features], df[TARGET]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=params["test_size"], random_state=params["seed"]
    )

    start = time.perf_counter()
    # One OpenMP thread: the same model to the byte as with many, and a predictable
    # runtime on a small shared machine, where threads spinning for a busy core made a
    # fit five times slower (mlver explain replays this script ten times).
    with threadpool_limits(limits=1, user_api="openmp"):
        model = build_model(params).fit(X_train, y_train)
    make_portable(model)
    pred = model.predict(X_test)
    print(
        f"trained {params['model']} on {len(X_train)} rows, {len(features)} features "
        f"in {time.perf_counter() - start:.2f}s"
    )

    metrics = {
        "rmse": float(np.sqrt(mean_squared_error(y_test, pred))),
        "mae": float(mean_absolute_error(y_test, pred)),
        "r2": float(r2_score(y_test, pred)),
        "n_train": len(X_train),
        "n_test": len(X_test),
    }
    metrics = {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}

    args.model_dir.mkdir(parents=True, exist_ok=True)
    with open(args.model_dir / "model.pkl", "wb") as fh:
        pickle.dump({"model": model, "features": features, "target": TARGET}, fh, protocol=4)
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(metrics, sort_keys=True))


if __name__ == "__main__":
    main()
