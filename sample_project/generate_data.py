"""Generate one month of synthetic rental listings.

    python generate_data.py --month N [--out raw] [--rows 3000]

writes ``<out>/listings-2026-MM.csv``. The data is made up here (no
downloads) and seeded by the month number alone, so re-running the script
for a month reproduces the file byte for byte. That is what lets mlver tell
"same data" from "new data" by content hash.

The months drift on purpose, so that a drift detector has something to find:

* From month 2 on a new neighbourhood, "Harbourside", appears (~15% of rows):
  expensive waterfront flats close to the centre.
* Prices rise by ``INFLATION`` (60%) per month after month 1: the high season.
* Flats turn into short lets: entire homes gain ``ENTIRE_SHIFT`` of the
  listings each month, at the expense of private and shared rooms.
* Listings concentrate near the centre: distances shrink by ``CENTRE_PULL``
  (15%) per month.

Together these move the price distribution so far that even the features
table, which accumulates all months, drifts: ``mlver diff`` of the model
trained on month 1 against the one trained on months 1+2 reports ``price``
drifted (Wasserstein distance about 0.76 standard deviations; >= 0.1 = drift).

A small share of rows is deliberately dirty (missing, zero or mistyped
prices, year-long minimum stays) so that ``prepare.py`` has real cleaning
to do.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

YEAR = 2026
INFLATION = 0.60  # price growth per month after month 1 (the high season starts)
CENTRE_PULL = 0.15  # share by which distances to the centre shrink per month
ENTIRE_SHIFT = 0.15  # share of listings that turn into entire homes per month
NEW_AREA = "Harbourside"
NEW_AREA_SHARE = 0.15

# name -> (typical distance to the centre in km, price multiplier)
NEIGHBOURHOODS = {
    "Old Town": (1.0, 1.35),
    "Riverside": (2.5, 1.15),
    "University": (3.5, 0.90),
    "Westfield": (6.0, 0.80),
    "Northgate": (8.0, 0.70),
    NEW_AREA: (1.5, 1.80),
}
BASE_SHARES = [0.25, 0.20, 0.20, 0.20, 0.15]  # the five original areas

ROOM_TYPES = ["Entire home/apt", "Private room", "Shared room"]
ROOM_SHARES = [0.60, 0.33, 0.07]  # month 1
ROOM_BASE_PRICE = {"Entire home/apt": 95.0, "Private room": 50.0, "Shared room": 28.0}

MIN_NIGHTS = np.array([1, 2, 3, 5, 7, 30])
MIN_NIGHTS_P = [0.35, 0.25, 0.15, 0.10, 0.10, 0.05]


def neighbourhood_shares(month: int) -> tuple[list[str], list[float]]:
    """Return neighbourhood names and sampling shares for ``month``."""
    names = list(NEIGHBOURHOODS)[:5]
    if month == 1:
        return names, BASE_SHARES
    # Harbourside takes its share; the old areas shrink proportionally.
    shares = [s * (1 - NEW_AREA_SHARE) for s in BASE_SHARES] + [NEW_AREA_SHARE]
    return names + [NEW_AREA], shares


def room_shares(month: int) -> list[float]:
    """Return room-type sampling shares for ``month`` (entire homes grow)."""
    entire = min(ROOM_SHARES[0] + ENTIRE_SHIFT * (month - 1), 0.90)
    rest = sum(ROOM_SHARES[1:])
    return [entire] + [s / rest * (1 - entire) for s in ROOM_SHARES[1:]]


def generate(month: int, rows: int = 3000) -> pd.DataFrame:
    """Build the listings table for ``month`` (deterministic in ``month``)."""
    # PCG64 is specified bit for bit, so the stream is the same on every OS.
    rng = np.random.default_rng(seed=month)
    drift = month - 1

    names, shares = neighbourhood_shares(month)
    hood = rng.choice(names, size=rows, p=shares)
    centre_km = np.array([NEIGHBOURHOODS[h][0] for h in hood])
    premium = np.array([NEIGHBOURHOODS[h][1] for h in hood])
    room = rng.choice(ROOM_TYPES, size=rows, p=room_shares(month))
    entire = room == ROOM_TYPES[0]

    # Entire homes host families; rooms host one or two people.
    accommodates = np.where(entire, 2 + rng.poisson(1.6, rows), 1 + rng.binomial(1, 0.4, rows))
    accommodates = np.where(room == "Shared room", 1, accommodates)
    bedrooms = np.where(entire, np.maximum(0, np.ceil(accommodates / 2) - rng.binomial(1, 0.2, rows)), 1)
    bathrooms = np.maximum(1.0, np.round(bedrooms * 0.6 * 2) / 2 + 0.5 * rng.binomial(1, 0.25, rows))
    minimum_nights = rng.choice(MIN_NIGHTS, size=rows, p=MIN_NIGHTS_P)
    number_of_reviews = rng.negative_binomial(1, 0.03, rows)
    review_score = np.clip(rng.normal(4.6, 0.3, rows), 1.0, 5.0)
    distance_km = centre_km * rng.lognormal(0.0, 0.35, rows) * (1 - CENTRE_PULL) ** drift

    # A multiplicative, non-linear price: size with diminishing returns,
    # a steep premium near the centre, and a discount for monthly lets.
    price = (
        np.array([ROOM_BASE_PRICE[r] for r in room])
        * accommodates**0.55
        * (1 + 0.12 * bedrooms)
        * premium
        * (0.75 + 0.9 * np.exp(-distance_km / 2.0))
        * (1 + 0.25 * (review_score - 4.6))
        * np.where(minimum_nights >= 30, 0.65, 1.0)
        * (1 + INFLATION) ** drift
        * rng.lognormal(0.0, 0.12, rows)
    )

    # Ratings are unknown without reviews, and a few are missing anyway.
    review_score[(number_of_reviews == 0) | (rng.random(rows) < 0.04)] = np.nan
    # Dirty rows for prepare.py to clean: missing, zero and mistyped prices,
    # and a few year-long minimum stays.
    dirt = rng.random(rows)
    price[dirt < 0.005] = np.nan
    price[(dirt >= 0.005) & (dirt < 0.008)] = 0.0
    typo = (dirt >= 0.008) & (dirt < 0.011)
    price[typo] = rng.uniform(2500, 10000, typo.sum())  # mistyped, above max_price
    minimum_nights[rng.random(rows) < 0.005] = 365

    return pd.DataFrame(
        {
            "listing_id": month * 100_000 + np.arange(rows),
            "neighbourhood": hood,
            "room_type": room,
            "accommodates": accommodates.astype(int),
            "bedrooms": bedrooms.astype(int),
            "bathrooms": bathrooms,
            "minimum_nights": minimum_nights.astype(int),
            "number_of_reviews": number_of_reviews.astype(int),
            "review_score": review_score.round(2),
            "distance_km": distance_km,
            "price": price,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", type=int, required=True, help="month of 2026, 1-12")
    parser.add_argument("--out", default="raw", help="output folder (default: raw)")
    parser.add_argument("--rows", type=int, default=3000, help="rows to write (default: 3000)")
    args = parser.parse_args()
    if not 1 <= args.month <= 12:
        parser.error("--month must be between 1 and 12")

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"listings-{YEAR}-{args.month:02d}.csv"
    # Fixed float format and line ending: identical bytes on every platform.
    generate(args.month, args.rows).to_csv(path, index=False, float_format="%.4f", lineterminator="\n")
    print(f"wrote {path} ({args.rows} rows)")


if __name__ == "__main__":
    main()
