"""The same batch landed on a small lake and on a large one: its cost must not grow with the lake.

Two lakes are built once (untimed) by running the real pipeline on generated input: a small one
(100k orders, 10k customers at full scale) and a large one (5M orders, 500k customers). Both
grow at the same rate per day (10k orders a day), so the large lake spans 500 days and the
small one 10, ending on the same day. The timed work is one run of the whole pipeline
(bronze, silver, gold, metrics, report) on the same next batch: 2,000 orders, of which 90% are
new orders of the next day and 10% status updates of orders of the lake's last two days, plus
200 customer rows (changes of existing customers and new customers), with a few defective
and duplicated rows. Every timed run lands on a fresh copy of its lake, made in the untimed
setup, so each round does exactly the same work.

Candidate: the batch on the large lake. Baseline: the same batch on the small lake. The ratio
of medians says how much a batch's cost grows with the lake it lands in (target <= 1.10).
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F  # noqa: N812

from etl_app import AppConfig, RunReport, load_config
from etl_app._pipeline import run_pipeline
from pipeline_testkit import scaled, write_one_file

pytestmark = pytest.mark.spark

SMALL_ORDERS = scaled(full=100_000, tiny=1_000)
LARGE_ORDERS = scaled(full=5_000_000, tiny=5_000)
BATCH_ORDERS = scaled(full=2_000, tiny=200)
ORDERS_PER_DAY = scaled(full=10_000, tiny=500)
ROUNDS = scaled(full=3, tiny=1)
WARMUP = scaled(full=1, tiny=0)

#: The last day of both lakes; the batch brings the next day's orders.
LAST_DAY = date(2025, 6, 30)
EPOCH = date(2020, 1, 1)
LAST_DAY_INDEX = (LAST_DAY - EPOCH).days
EPOCH_SECONDS = 1_577_836_800  # 2020-01-01T00:00:00Z
STATUSES = ["completed", "shipped", "pending", "cancelled"]
COUNTRIES = ["GB", "US", "NL", "DE", "FR", "CA"]
SEGMENTS = ["retail", "smb", "enterprise"]
#: Customer ids of the batch's new customers start here (beyond both lakes' customers).
NEW_CUSTOMER_BASE = 100_000_000


def _pick(values: list[str], col: Column) -> Column:
    return F.element_at(F.array(*[F.lit(v) for v in values]), (col % len(values) + 1).cast("int"))


def _orders(spark: SparkSession, first_day: int, days: int, n_customers: int) -> Any:
    """Orders of ``days`` days from day index ``first_day``: ids and values derive from (day, seq).

    Defects (NULL keys, bad amounts, unknown statuses) and duplicates depend on the sequence
    number within the day, so a day holds the same defects in every lake.
    """
    row = F.col("id")
    day = F.lit(first_day) + (row / ORDERS_PER_DAY).cast("long")
    seq = row % ORDERS_PER_DAY
    order_id = day * 1_000_000 + seq
    orders = spark.range(0, days * ORDERS_PER_DAY).select(
        F.when(seq % 1000 == 1, F.lit(None)).otherwise(order_id.cast("string")).alias("order_id"),
        F.when(seq % 1000 == 2, F.lit(None))
        .otherwise((F.abs(F.xxhash64(order_id)) % n_customers + 1).cast("string"))
        .alias("customer_id"),
        F.date_format(
            F.timestamp_seconds(F.lit(EPOCH_SECONDS) + day * 86_400 + (seq * 7_919) % 86_400),
            "yyyy-MM-dd'T'HH:mm:ss",
        ).alias("order_ts"),
        F.when(seq % 1000 == 3, F.lit("n/a"))
        .when(seq % 1000 == 4, F.lit("-5.00"))
        .otherwise(F.format_number((order_id * 37 % 50_000) / 100 + 1, 2).cast("string"))
        .alias("amount"),
        F.when(seq % 1000 == 5, F.lit("teleported"))
        .otherwise(_pick(STATUSES, order_id))
        .alias("status"),
        _pick(COUNTRIES, order_id * 3).alias("country"),
        seq.alias("_seq"),
    )
    orders = orders.withColumn("amount", F.regexp_replace("amount", ",", ""))
    return orders.unionByName(orders.filter(F.col("_seq") % 500 == 7)).drop("_seq")


def write_lake_input(spark: SparkSession, folder: Path, n_orders: int) -> None:
    """Write batch 1 of a lake: ``n_orders`` orders and a tenth as many customers.

    The orders span ``n_orders / ORDERS_PER_DAY`` days ending on LAST_DAY; orders and customers
    carry about 1% defects and 0.2% duplicates.
    """
    days = max(1, n_orders // ORDERS_PER_DAY)
    n_customers = max(10, n_orders // 10)
    ids = F.col("id")
    customers = spark.range(1, n_customers + 1).select(
        F.when(ids % 500 == 1, F.lit(None)).otherwise(ids.cast("string")).alias("customer_id"),
        F.concat(F.lit("Customer "), ids.cast("string")).alias("name"),
        F.concat(F.lit("c"), ids.cast("string"), F.lit("@example.com")).alias("email"),
        F.when(ids % 500 == 2, F.lit("XXX")).otherwise(_pick(COUNTRIES, ids)).alias("country"),
        _pick(SEGMENTS, ids * 7).alias("segment"),
        F.lit("2024-01-01T00:00:00").alias("updated_at"),
    )
    customers = customers.unionByName(customers.filter(ids % 500 == 3))
    write_one_file(customers, folder / "customers_0001.csv", "csv", header="true")
    orders = _orders(spark, LAST_DAY_INDEX - days + 1, days, n_customers)
    write_one_file(orders, folder / "orders_0001.json", "json")


def write_batch(spark: SparkSession, folder: Path) -> None:
    """The next batch, identical for both lakes (it only references what both lakes hold).

    Orders: 90% new orders of the day after LAST_DAY, 10% status updates (to ``completed``) of
    orders of LAST_DAY and the day before. Customers: a tenth as many rows as orders, half
    changes (segment and country) of existing customers, half new customers.
    """
    small_customers = max(10, SMALL_ORDERS // 10)
    n_updates = BATCH_ORDERS // 10
    new = _orders(spark, LAST_DAY_INDEX + 1, 1, small_customers).limit(BATCH_ORDERS - n_updates)
    # Valid orders of the last two days (sequence numbers clear of the defect pattern).
    seqs = [s for s in range(ORDERS_PER_DAY) if s % 1000 not in (1, 2, 3, 4, 5)]
    picked = [
        (LAST_DAY_INDEX - i % 2) * 1_000_000 + seqs[(i * 37) % len(seqs)] for i in range(n_updates)
    ]
    updated = (
        spark.createDataFrame([(p,) for p in sorted(set(picked))], "order_id long")
        .select(
            F.col("order_id").cast("string").alias("order_id"),
            (F.col("order_id") % small_customers + 1).cast("string").alias("customer_id"),
            F.date_format(
                F.timestamp_seconds(
                    F.lit(EPOCH_SECONDS)
                    + (F.col("order_id") / 1_000_000).cast("long") * 86_400
                    + (F.col("order_id") % 1_000_000 * 7_919) % 86_400
                ),
                "yyyy-MM-dd'T'HH:mm:ss",
            ).alias("order_ts"),
            F.format_number((F.col("order_id") * 37 % 50_000) / 100 + 1, 2).alias("amount"),
            F.lit("completed").alias("status"),
            _pick(COUNTRIES, F.col("order_id") * 3).alias("country"),
        )
        .withColumn("amount", F.regexp_replace("amount", ",", ""))
    )
    write_one_file(new.unionByName(updated), folder / "orders_0002.json", "json")

    n_customers = max(2, BATCH_ORDERS // 10)
    changed = [c for c in range(3, 10 * n_customers, 5) if c % 500 not in (1, 2, 3)]
    changed = changed[: n_customers // 2]
    rows = [
        (str(c), f"Customer {c}", f"c{c}@example.com", COUNTRIES[(c + 1) % 6], SEGMENTS[c % 3])
        for c in changed
    ]
    rows += [
        (str(c), f"Customer {c}", f"c{c}@example.com", COUNTRIES[c % 6], SEGMENTS[c % 3])
        for c in range(NEW_CUSTOMER_BASE, NEW_CUSTOMER_BASE + n_customers - len(changed))
    ]
    customers = spark.createDataFrame(
        rows, "customer_id string, name string, email string, country string, segment string"
    ).withColumn("updated_at", F.lit("2025-07-01T08:00:00"))
    write_one_file(customers, folder / "customers_0002.csv", "csv", header="true")


@dataclass
class Lake:
    """A lake built once, and a fresh copy of it for every timed run."""

    name: str
    pristine: Path
    work: Path
    orders: int
    ready: Path | None = None
    used: list[Path] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def prepare(self) -> None:
        """Untimed: make a fresh copy if none is ready; delete landed copies but the newest."""
        if self.ready is not None:
            return
        for path in self.used[:-1]:
            shutil.rmtree(path, ignore_errors=True)
        self.ready = self.work / f"run-{next(self.counter)}"
        shutil.copytree(self.pristine, self.ready)

    def take(self) -> Path:
        """The fresh copy for the next timed run."""
        assert self.ready is not None, "setup must prepare a copy before each timed run"
        root, self.ready = self.ready, None
        self.used.append(root)
        return root


def _config(tmp: Path, input_dir: Path) -> AppConfig:
    config_file = tmp / "bench.yaml"
    config_file.write_text(f"input: {{dir: {input_dir}}}\nlogging: {{level: WARNING}}\n")
    return load_config(config_file)


@pytest.fixture(scope="module")
def lakes(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Lake, Path]:
    """Both lakes, built by the real pipeline from generated input, and the batch's folder."""
    base = tmp_path_factory.mktemp("incremental")
    built = []
    for name, n_orders in (("small", SMALL_ORDERS), ("large", LARGE_ORDERS)):
        input_dir = base / f"{name}-input"
        input_dir.mkdir()
        write_lake_input(spark, input_dir, n_orders)
        pristine = base / f"{name}-lake"
        config = _config(base, input_dir).with_overrides(output_root=str(pristine))
        report = run_pipeline(config, spark=spark)
        assert report.status == "success", report.error
        # The lake holds the generated batch (a run that found no input would also succeed).
        assert {rec["batch_id"] for rec in report.reconciliation} == {1}, report.reconciliation
        shutil.rmtree(input_dir)  # processed files are archived elsewhere in real life
        work = base / f"{name}-runs"
        work.mkdir()
        built.append(Lake(name, pristine, work, n_orders))
    batch = base / "batch"
    batch.mkdir()
    write_batch(spark, batch)
    return built[0], built[1], batch


def test_batch_cost_does_not_grow_with_the_lake(
    spark: SparkSession,
    lakes: tuple[Lake, Lake, Path],
    tmp_path: Path,
    compare: Callable[..., Any],
) -> None:
    """One batch on a 5M-order lake costs at most 1.10x the same batch on a 100k-order lake."""
    small, large, batch = lakes
    config = _config(tmp_path, batch)
    reports: dict[str, list[RunReport]] = {"small": [], "large": []}

    def land(lake: Lake) -> None:
        run = config.with_overrides(output_root=str(lake.take()))
        reports[lake.name].append(run_pipeline(run, spark=spark))

    def setup() -> None:
        small.prepare()
        large.prepare()

    result = compare(
        f"one {BATCH_ORDERS}-order batch on a {LARGE_ORDERS}-order lake vs a "
        f"{SMALL_ORDERS}-order lake",
        lambda: land(large),
        lambda: land(small),
        setup=setup,
        rounds=ROUNDS,
        warmup=WARMUP,
        target=1.10,
    )

    runs = reports["small"] + reports["large"]
    assert len(runs) == 2 * (ROUNDS + WARMUP)
    assert all(r.status == "success" for r in runs), [r.error for r in runs]
    assert all(all(rec["ok"] for rec in r.reconciliation) for r in runs)
    # Every run processed the batch (not skipped it as already seen).
    assert all({rec["batch_id"] for rec in r.reconciliation} == {2} for r in runs)
    # Both lakes end with the same revenue for the batch's new day.
    next_day = date.fromordinal(LAST_DAY.toordinal() + 1)
    revenue = [
        sorted(
            tuple(row)
            for row in spark.read.format("delta")
            .load(str(lake.used[-1] / "gold" / "daily_revenue"))
            .filter(F.col("order_date") == F.lit(next_day))
            .collect()
        )
        for lake in (small, large)
    ]
    assert revenue[0] == revenue[1]
    assert revenue[0]
    assert result.ratio > 0
