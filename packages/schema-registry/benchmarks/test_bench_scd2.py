"""SCD2 validation of a history in one window pass vs one query per rule."""

import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F  # noqa: N812 - the PySpark convention

from pipeline_testkit import scaled
from schema_registry import Scd2Rule, validate_scd2

pytestmark = pytest.mark.spark

VERSIONS = 4  # versions per business key


@pytest.fixture
def history_path(spark, table_path):
    """A Delta table holding an SCD2 history with a few defects of each kind."""
    n = scaled(full=1_000_000, tiny=2_000)
    version = F.col("id") % VERSIONS
    start = F.date_add(F.lit("2020-01-01").cast("date"), (version * 30).cast("int"))
    end = F.date_add(F.lit("2020-01-01").cast("date"), ((version + 1) * 30).cast("int"))
    last = version == VERSIONS - 1
    defect = F.col("id") % 997
    history = spark.range(n).select(
        F.when(defect == 1, F.lit(None))
        .otherwise((F.col("id") / VERSIONS).cast("long"))
        .alias("key"),
        start.alias("valid_from"),
        # Every 997th row: a closed row ends a day late (overlap) or early (gap).
        F.when(last, F.lit(None).cast("date"))
        .when(defect == 2, F.date_add(end, 1))
        .when(defect == 3, F.date_sub(end, 1))
        .otherwise(end)
        .alias("valid_to"),
        (last | (defect == 4)).alias("is_current"),
        F.concat(F.lit("name-"), F.col("id").cast("string")).alias("name"),
    )
    history.write.format("delta").save(table_path)
    return table_path


def _one_query_per_rule(df):
    """The baseline: each rule as its own Spark query, as one would write them one by one."""
    is_open = F.col("valid_to").isNull()
    current = F.coalesce(F.col("is_current"), F.lit(False))
    keyed = df.filter(F.col("key").isNotNull())
    by_key = Window.partitionBy("key").orderBy("valid_from", F.col("valid_to").asc_nulls_last())
    with_next = keyed.withColumn("next_from", F.lead("valid_from").over(by_key))
    has_next = F.col("next_from").isNotNull()
    return {
        Scd2Rule.NULL_KEY: df.filter(F.col("key").isNull()).count(),
        Scd2Rule.CURRENT_ROW_COUNT: keyed.groupBy("key")
        .agg(F.sum(F.when(current, 1).otherwise(0)).alias("n"))
        .filter("n != 1")
        .count(),
        Scd2Rule.CURRENT_ROW_NOT_OPEN: keyed.filter(current != is_open).count(),
        Scd2Rule.INVALID_INTERVAL: keyed.filter(
            F.col("valid_from").isNull() | (~is_open & (F.col("valid_from") >= F.col("valid_to")))
        ).count(),
        Scd2Rule.OVERLAP: with_next.filter(
            has_next & (is_open | (F.col("next_from") < F.col("valid_to")))
        ).count(),
        Scd2Rule.GAP: with_next.filter(
            has_next & ~is_open & (F.col("next_from") > F.col("valid_to"))
        ).count(),
    }


class TestScd2Benchmark:
    def test_one_pass_vs_query_per_rule(self, spark, history_path, compare):
        """validate_scd2 (counts + samples) against six separate count queries; target 2x."""
        load = lambda: spark.read.format("delta").load(history_path)  # noqa: E731
        report = validate_scd2(load(), ["key"])
        assert dict(report.violations) == _one_query_per_rule(load())
        assert not report.is_valid
        compare(
            "scd2_validation_one_pass_vs_per_rule",
            lambda: validate_scd2(load(), ["key"]),
            lambda: _one_query_per_rule(load()),
            rounds=scaled(full=5, tiny=2),
            target=0.5,
        )
