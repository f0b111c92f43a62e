"""Delta round trips on every kind of session the ``spark`` fixture hands out.

The SQL round trip runs in every run (local, Spark Connect, cluster, S3). The classes marked
``connect``, ``s3`` and ``cluster`` prove what is special about that kind and only run in runs
that ask for it (``nox -s connect`` / ``nox -s cluster``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pyspark.sql import SparkSession

if TYPE_CHECKING:
    from pipeline_testkit import S3Server, StandaloneCluster

pytestmark = pytest.mark.spark


def sql_round_trip(spark: SparkSession, path: str) -> list[tuple[int, str]]:
    """Create, append, MERGE INTO (SQL), read back; return the rows and check the history."""
    spark.createDataFrame([(1, "a"), (2, "b")], "id INT, v STRING").write.format("delta").save(path)
    spark.createDataFrame([(3, "c")], "id INT, v STRING").write.format("delta").mode("append").save(
        path
    )
    spark.createDataFrame([(2, "B"), (4, "d")], "id INT, v STRING").createOrReplaceTempView(
        "round_trip_source"
    )
    spark.sql(
        f"MERGE INTO delta.`{path}` AS t USING round_trip_source AS s ON t.id = s.id "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
    )
    rows = sorted((r["id"], r["v"]) for r in spark.read.format("delta").load(path).collect())
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").orderBy("version").collect()
    assert [h["operation"] for h in history] == ["WRITE", "WRITE", "MERGE"]
    metrics = history[2]["operationMetrics"]
    assert (metrics["numTargetRowsUpdated"], metrics["numTargetRowsInserted"]) == ("1", "1")
    return rows


class TestDeltaRoundTrip:
    """A Delta table round trip works on whichever session this run uses."""

    def test_create_append_merge_read_history(self, spark: SparkSession, table_path: str) -> None:
        """A table created, appended to and merged into (SQL) reads back right, 3 history rows."""
        assert sql_round_trip(spark, table_path) == [(1, "a"), (2, "B"), (3, "c"), (4, "d")]

    @pytest.mark.no_connect(
        "Delta's Python DeltaTable API needs Delta Connect's server plugin, which Maven "
        "Central does not serve for Spark 4.2"
    )
    def test_delta_table_api_merge(self, spark: SparkSession, table_path: str) -> None:
        """On a classic session Delta's DeltaTable API merges, as the writer library uses it."""
        from delta.tables import DeltaTable

        spark.createDataFrame([(1, "a")], "id INT, v STRING").write.format("delta").save(table_path)
        source = spark.createDataFrame([(1, "A"), (2, "b")], "id INT, v STRING")
        (
            DeltaTable.forPath(spark, table_path)
            .alias("t")
            .merge(source.alias("s"), "t.id = s.id")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
        rows = sorted(tuple(r) for r in spark.read.format("delta").load(table_path).collect())
        assert rows == [(1, "A"), (2, "b")]

    def test_session_is_configured_for_tests(self, spark: SparkSession) -> None:
        """The shared session is small, UI-less, in UTC and has Delta's SQL extension on."""
        assert spark.conf.get("spark.sql.shuffle.partitions") == "2"
        assert spark.conf.get("spark.ui.enabled") == "false"
        assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
        assert "DeltaSparkSessionExtension" in (spark.conf.get("spark.sql.extensions") or "")


@pytest.mark.connect
class TestOverSparkConnect:
    """Over Spark Connect the fixture is a Connect client of a server that has Delta."""

    def test_session_is_a_connect_client(self, spark: SparkSession) -> None:
        """The fixture hands out a Spark Connect session, not a classic one."""
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        assert isinstance(spark, ConnectSession)

    def test_delta_table_api_needs_the_missing_server_plugin(
        self, spark: SparkSession, table_path: str
    ) -> None:
        """DeltaTable fails over Connect: the server has no Delta Connect relation handler."""
        from delta.tables import DeltaTable

        spark.range(3).write.format("delta").save(table_path)
        with pytest.raises(Exception, match="NO_HANDLER_FOR_EXTENSION") as err:
            DeltaTable.forPath(spark, table_path).toDF().collect()
        assert "delta.connect.DeltaRelation" in str(err.value)


@pytest.mark.s3
class TestOnS3:
    """With S3 on, tables live on a real S3 API server, written through Hadoop's S3A client."""

    def test_round_trip_lands_in_the_bucket(
        self, spark: SparkSession, table_path: str, s3_server: S3Server
    ) -> None:
        """The round trip writes to s3a://; the bucket then holds its data and commit files."""
        assert table_path.startswith(f"s3a://{s3_server.bucket}/")
        assert sql_round_trip(spark, table_path) == [(1, "a"), (2, "B"), (3, "c"), (4, "d")]
        prefix = table_path.split(f"s3a://{s3_server.bucket}/", 1)[1]
        keys = s3_server.keys(prefix)
        commits = sorted(k.rsplit("/", 1)[1] for k in keys if "/_delta_log/" in k and ".json" in k)
        assert commits[:3] == [f"{n:020d}.json" for n in range(3)]
        assert any(k.endswith(".parquet") for k in keys)

    def test_credentials_are_not_in_spark_settings_or_logs(
        self, spark: SparkSession, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """The dummy secret reaches S3A through the environment, never a setting or a log."""
        secret = s3_server.env["AWS_SECRET_ACCESS_KEY"]
        settings = spark.conf.getAll
        assert settings["spark.hadoop.fs.s3a.endpoint"] == s3_server.endpoint
        assert not [key for key, value in settings.items() if secret in value]
        logs = [p for p in tmp_path_factory.getbasetemp().rglob("*.log") if p.is_file()]
        assert any(p.parent.name.startswith("s3") for p in logs), logs
        assert not [p for p in logs if secret in p.read_text(errors="replace")]


@pytest.mark.cluster
class TestOnCluster:
    """With the cluster on, tasks run in executors launched by the standalone workers."""

    def test_round_trip_runs_on_the_workers_executors(
        self, spark: SparkSession, table_path: str, spark_cluster: StandaloneCluster
    ) -> None:
        """Both workers run an executor of this application, and their logs show its tasks."""
        assert sql_round_trip(spark, table_path) == [(1, "a"), (2, "B"), (3, "c"), (4, "d")]
        app_id = spark.conf.get("spark.app.id")
        assert app_id is not None
        apps = [a for a in spark_cluster.status()["activeapps"] if a["id"] == app_id]
        assert len(apps) == 1
        assert apps[0]["cores"] == 2
        per_worker = [
            [e for e in w["executors"] if e["appid"] == app_id]
            for w in spark_cluster.worker_status()
        ]
        assert [len(executors) for executors in per_worker] == [1, 1]
        logs = spark_cluster.executor_logs(app_id)
        assert len(logs) == 2
        finished = [text.count("Finished task") for text in logs.values()]
        assert all(count > 0 for count in finished), finished
