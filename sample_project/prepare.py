"""Stage 1: clean the raw listings and build the feature table.

    python prepare.py [--raw raw] [--out features/listings.csv] [--params params.yaml]

Reads every ``raw/*.csv`` (in sorted order, so the result does not depend on
the order the file system lists them in), cleans them, adds engineered
columns and writes one CSV. The output is byte-for-byte deterministic: rows
are sorted by ``listing_id``, columns come in a fixed order and floats are
written with a fixed number of decimals. mlver can then hash it and diff it
row by row on its key, ``listing_id``.

Settings come from the ``prepare:`` section of ``params.yaml``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

DEFAULTS = {"max_price": 2000, "min_reviews": 0, "max_minimum_nights": 30, "max_accommodates": 16}
CATEGORICAL = ["neighbourhood", "room_type"]


def load_params(path: Path) -> dict:
    """Return the ``prepare:`` settings, falling back to ``DEFAULTS``."""
    with open(path, encoding="utf-8") as fh:
        section = (yaml.safe_load(fh) or {}).get("prepare") or {}
    unknown = set(section) - set(DEFAULTS)
    if unknown:  # a typo in params.yaml should fail loudly, not be ignored
        raise SystemExit(f"unknown prepare params: {sorted(unknown)}")
    return {**DEFAULTS, **section}


def read_raw(raw_dir: Path) -> pd.DataFrame:
    """Concatenate all raw monthly CSVs, in sorted file-name order."""
    files = sorted(raw_dir.glob("*.csv"))
    if not files:
        raise SystemExit(f"no CSV files in {raw_dir}/ - run generate_data.py first")
    frames = [pd.read_csv(f) for f in files]
    print(f"read {len(files)} file(s): {', '.join(f.name for f in files)}")
    return pd.concat(frames, ignore_index=True)


def clean(df: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Drop unusable rows and tame outliers."""
    n0 = len(df)
    df = df.drop_duplicates(subset="listing_id", keep="last")
    # A missing or non-positive price is no label; a price above max_price is
    # a data-entry error (e.g. a monthly rent typed as nightly), not a listing
    # the model should learn from, so those rows go too.
    df = df[df["price"].notna() & (df["price"] > 0) & (df["price"] <= params["max_price"])]
    df = df[df["number_of_reviews"] >= params["min_reviews"]]
    # Year-long minimum stays are long-term lets; clip rather than drop them
    # so one odd field does not cost the whole row.
    df = df.assign(
        minimum_nights=df["minimum_nights"].clip(upper=params["max_minimum_nights"]),
        accommodates=df["accommodates"].clip(1, params["max_accommodates"]),
    )
    # The median of the data at hand, so adding a month can move it - that is
    # a real effect of new data and mlver's table diff will show it.
    df["review_score"] = df["review_score"].fillna(df["review_score"].median())
    print(f"cleaned: kept {len(df)} of {n0} rows")
    return df


def add_features(df: pd.DataFrame) -> pd.DataFrame:
    """Add engineered columns: ratios, a log distance, one-hot categories."""
    df = df.assign(
        # listing_id encodes the month it was scraped (month * 100000 + i);
        # the model needs it to learn the price trend over time.
        listing_month=df["listing_id"] // 100_000,
        price_per_person=df["price"] / df["accommodates"],  # for analysis, not a model input
        people_per_bedroom=df["accommodates"] / df["bedrooms"].clip(lower=1),
        log_distance=np.log1p(df["distance_km"]),
        has_reviews=(df["number_of_reviews"] > 0).astype(int),
    )
    # One-hot columns named like "neighbourhood=Old Town". A neighbourhood that
    # first appears in a new month adds a column: a schema change mlver shows.
    dummies = pd.get_dummies(df[CATEGORICAL], prefix_sep="=", dtype=int)
    dummies = dummies[sorted(dummies.columns)]
    return pd.concat([df, dummies], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", default="raw", type=Path, help="folder of raw CSVs")
    parser.add_argument("--out", default="features/listings.csv", type=Path, help="output CSV")
    parser.add_argument("--params", default="params.yaml", type=Path, help="params file")
    args = parser.parse_args()

    params = load_params(args.params)
    df = add_features(clean(read_raw(args.raw), params))
    df = df.sort_values("listing_id", kind="stable").reset_index(drop=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False, float_format="%.4f", lineterminator="\n")
    print(f"wrote {args.out} ({len(df)} rows, {df.shape[1]} columns)")


if __name__ == "__main__":
    main()
