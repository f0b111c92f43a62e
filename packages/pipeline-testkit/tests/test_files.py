"""write_one_file leaves one plain file per name, as an upstream exporter would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pipeline_testkit import write_one_file

pytestmark = pytest.mark.spark


def test_rows_land_in_one_file_with_nothing_left_beside_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Fifty rows from four partitions come back from one JSON lines file, no staging left."""
    df = spark.range(0, 50, numPartitions=4).selectExpr("id", "cast(id * 2 as string) AS v")

    target = write_one_file(df, tmp_path / "in" / "rows_0001.json", "json")

    assert target.is_file()
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == list(range(50))
    assert {r["v"] for r in rows} == {str(i * 2) for i in range(50)}
    assert [p.name for p in target.parent.iterdir()] == ["rows_0001.json"]


def test_writer_options_apply(spark: SparkSession, tmp_path: Path) -> None:
    """Options reach Spark's writer: a CSV gets its header line."""
    df = spark.createDataFrame([(1, "a")], "id INT, v STRING")

    target = write_one_file(df, tmp_path / "c_0001.csv", "csv", header="true")

    assert target.read_text().splitlines() == ["id,v", "1,a"]


def test_an_existing_file_is_never_overwritten(spark: SparkSession, tmp_path: Path) -> None:
    """A name already taken is refused and its file keeps its content."""
    target = tmp_path / "kept.json"
    target.write_text('{"id": 1}\n')

    with pytest.raises(FileExistsError, match=r"kept\.json already exists"):
        write_one_file(spark.range(3), target, "json")
    assert target.read_text() == '{"id": 1}\n'
