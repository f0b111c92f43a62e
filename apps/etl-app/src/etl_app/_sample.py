"""Synthetic customers and orders with the defects real sources have (no Spark needed).

Two batches are written, in the layout the pipeline reads (``customers_0001.csv``,
``orders_0001.json``, ...):

- batch 1: customers and orders, with null keys, exact duplicates, unparsable amounts,
  out-of-range amounts, unknown statuses and invalid country codes;
- batch 2: customer changes for SCD2 (some of them late-arriving: their ``updated_at`` lies
  before the batch-2 date), new customers, order status updates, new orders, and an extra
  column (``coupon_code``) in the orders file that the bronze schema does not know.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

COUNTRIES = ("GB", "US", "NL", "DE", "FR", "CA")
SEGMENTS = ("retail", "smb", "enterprise")
STATUSES = ("completed", "shipped", "pending", "cancelled")
CUSTOMER_COLUMNS = ("customer_id", "name", "email", "country", "segment", "updated_at")
START = datetime(2024, 1, 1)
DAYS = 28

#: Share of batch-1 order rows that carry each kind of defect.
DEFECT_RATE = 0.01


@dataclass(frozen=True)
class SampleSummary:
    """What ``generate_sample`` wrote.

    Attributes:
        out_dir: The folder holding the files.
        files: Written file names, in processing order.
        customers: Distinct customer ids in batch 1.
        orders: Order rows written over both batches (defective rows included).
    """

    out_dir: Path
    files: tuple[str, ...]
    customers: int
    orders: int


def _ts(rng: random.Random, day_offset: int = 0) -> str:
    moment = START + timedelta(days=day_offset, seconds=rng.randrange(86_400))
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _order(rng: random.Random, order_id: int, n_customers: int) -> dict[str, object]:
    return {
        "order_id": order_id,
        "customer_id": rng.randint(1, n_customers),
        "order_ts": _ts(rng, rng.randrange(DAYS)),
        "amount": round(rng.uniform(1, 500), 2),
        "status": rng.choice(STATUSES),
        "country": rng.choice(COUNTRIES),
    }


def _defect(rng: random.Random, row: dict[str, object]) -> dict[str, object]:
    kind = rng.randrange(6)
    bad = dict(row)
    if kind == 0:
        bad["order_id"] = None
    elif kind == 1:
        bad["customer_id"] = None
    elif kind == 2:
        bad["amount"] = "n/a"
    elif kind == 3:
        bad["amount"] = -abs(float(str(row["amount"])))
    elif kind == 4:
        bad["amount"] = 5_000_000.0
    else:
        bad["status"] = "teleported"
    return bad


def generate_sample(out_dir: str | Path, rows: int, *, seed: int = 7) -> SampleSummary:
    """Write two batches of synthetic customers and orders into ``out_dir``.

    Args:
        out_dir: Target folder (created when missing; existing sample files are replaced).
        rows: Number of batch-1 orders (at least 10); batch 2 adds about 5% more. Customers are
            a tenth of that.
        seed: Random seed: the same seed gives the same files.

    Returns:
        What was written.

    Raises:
        ValueError: ``rows`` is below 10.
    """
    if rows < 10:
        raise ValueError(f"--rows must be at least 10, got {rows}")
    rng = random.Random(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_customers = max(5, rows // 10)

    customers = [
        {
            "customer_id": str(cid),
            "name": f"Customer {cid}",
            "email": f"customer{cid}@example.com",
            "country": rng.choice(COUNTRIES),
            "segment": rng.choice(SEGMENTS),
            "updated_at": _ts(rng),
        }
        for cid in range(1, n_customers + 1)
    ]
    batch1_customers = list(customers)
    dup_every = max(2, int(1 / DEFECT_RATE))
    batch1_customers += [dict(c) for c in customers[::dup_every]]  # exact duplicates
    batch1_customers.append({**customers[0], "customer_id": ""})  # null key
    batch1_customers.append({**customers[-1], "customer_id": str(n_customers + 1), "country": "X"})
    rng.shuffle(batch1_customers)

    changed = rng.sample(customers, max(1, n_customers // 20))
    batch2_customers = []
    for c in changed:
        # Half the changes are late-arriving: effective before the day batch 2 lands.
        late = rng.random() < 0.5
        batch2_customers.append(
            {
                **c,
                "segment": rng.choice(SEGMENTS),
                "country": rng.choice(COUNTRIES),
                "updated_at": _ts(rng, DAYS // 2 if late else DAYS),
            }
        )
    batch2_customers += [
        {
            "customer_id": str(cid),
            "name": f"Customer {cid}",
            "email": f"customer{cid}@example.com",
            "country": rng.choice(COUNTRIES),
            "segment": rng.choice(SEGMENTS),
            "updated_at": _ts(rng, DAYS),
        }
        for cid in range(n_customers + 2, n_customers + 2 + max(1, n_customers // 50))
    ]

    orders1: list[dict[str, object]] = []
    for oid in range(1, rows + 1):
        row = _order(rng, oid, n_customers)
        if rng.random() < DEFECT_RATE * 6:
            row = _defect(rng, row)
        orders1.append(row)
        if rng.random() < DEFECT_RATE:
            orders1.append(dict(row))  # exact duplicate delivery
    orders2: list[dict[str, object]] = [
        {**_order(rng, oid, n_customers), "status": "completed"}
        for oid in rng.sample(range(1, rows + 1), max(1, rows // 40))
    ]
    orders2 += [
        _order(rng, oid, n_customers) for oid in range(rows + 1, rows + 1 + max(1, rows // 40))
    ]
    for row in orders2:
        row["coupon_code"] = rng.choice((None, None, "WELCOME10", "NEWYEAR"))

    files = (
        _write_csv(out / "customers_0001.csv", batch1_customers),
        _write_json(out / "orders_0001.json", orders1),
        _write_csv(out / "customers_0002.csv", batch2_customers),
        _write_json(out / "orders_0002.json", orders2),
    )
    return SampleSummary(out, files, n_customers, len(orders1) + len(orders2))


def _write_csv(path: Path, rows: list[dict[str, str]]) -> str:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CUSTOMER_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path.name


def _write_json(path: Path, rows: list[dict[str, object]]) -> str:
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in rows)
    return path.name
