"""Silver table layout: created partitioned as the spec says, with Delta's change data feed on.

Every batch's silver commit records its changes (``_change_data`` files for updates, the added
files for inserts), so gold reads what a batch changed from that commit alone, and silver
orders are partitioned by order date so recomputing a date reads only that date. Lakes written
by etl-app 0.1 have neither; :func:`check_layout` refuses them with a clear error and
:func:`migrate` rewrites them once.

Tables MERGEd by a key spread over all their rows (customers) get Delta's deletion vectors
when created: a batch's few hundred customers fall in every file, and without them each MERGE
rewrites the whole table. ``etl-app migrate`` switches them on for tables created before.
"""

from __future__ import annotations

import functools
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_app import _delta_sql, _storage
from etl_app.errors import LakeLayoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from etl_app._specs import TableSpec

CDF_PROPERTY = "delta.enableChangeDataFeed"
DV_PROPERTY = "delta.enableDeletionVectors"


def exists(spark: SparkSession, path: str) -> bool:
    """Whether a Delta table exists at ``path``: it has a commit (any FileSystem, any URI).

    A ``_delta_log`` folder without a commit file (a first write interrupted by a crash or a
    full disk) is no table: the next write creates it.
    """
    if _delta_sql.is_connect(spark):
        return _delta_sql.exists(spark, path)
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


def _detail(spark: SparkSession, path: str) -> Any:
    return spark.sql(f"DESCRIBE DETAIL {_delta_sql.table_ref(path)}").collect()[0]


#: The fields of a Delta checksum file (``_delta_log/<version>.crc``) the table metrics read.
_CHECKSUM_SCHEMA = "tableSizeBytes LONG, numFiles LONG"


@dataclass(frozen=True)
class TableSize:
    """A Delta table's data at one version.

    Attributes:
        size_bytes: Bytes of the data files.
        files: Data files.
    """

    size_bytes: int
    files: int


def table_sizes(spark: SparkSession, versions: Mapping[str, int]) -> dict[str, TableSize]:
    """Size and data files of each table at the given version, from Delta's checksum files.

    Delta writes a checksum file with each commit (the Delta protocol's version checksum:
    ``tableSizeBytes``, ``numFiles``): one small read covers every table, where ``DESCRIBE
    DETAIL`` rebuilds each table's snapshot (a few Spark jobs per table). A table whose
    checksum is missing or incomplete (a commit by a writer that writes none, checksums
    switched off) is described instead, at its newest version.

    Args:
        spark: The session.
        versions: Version per table location.

    Returns:
        The size per table location.
    """
    from pyspark.sql import functions as sf

    files = {_checksum_file(path, version): path for path, version in versions.items()}
    found: dict[str, TableSize] = {}
    if files:
        try:
            rows = (
                spark.read.schema(_CHECKSUM_SCHEMA)
                .json(list(files))
                .select("tableSizeBytes", "numFiles", sf.col("_metadata.file_path").alias("f"))
                .collect()
            )
        except Exception:
            # One missing checksum fails the whole read: every table is described instead.
            rows = []
        by_key = {_path_key(file): path for file, path in files.items()}
        for row in rows:
            path = by_key.get(_path_key(row["f"]))
            size, count = row["tableSizeBytes"], row["numFiles"]
            if path is not None and size is not None and count is not None:
                found[path] = TableSize(int(size), int(count))
    missing = [path for path in versions if path not in found]
    if missing:
        # Each DESCRIBE DETAIL is a small, latency-bound job: run them side by side.
        with ThreadPoolExecutor(max_workers=4) as pool:
            details = list(pool.map(functools.partial(_detail, spark), missing))
        for path, detail in zip(missing, details, strict=True):
            found[path] = TableSize(int(detail["sizeInBytes"]), int(detail["numFiles"]))
    return found


def _checksum_file(path: str, version: int) -> str:
    return _storage.join(path, "_delta_log", f"{version:020d}.crc")


def _path_key(location: str) -> str:
    """A location as Spark's file listing and our paths both spell it (``file:`` dropped)."""
    local = _storage.local_path(location)
    return str(local) if local is not None else location


def _is_on(detail: Any, prop: str) -> bool:
    return str((detail["properties"] or {}).get(prop, "false")).lower() == "true"


def layout_problems(spark: SparkSession, spec: TableSpec, path: str) -> list[str]:
    """How the existing table at ``path`` differs from the layout ``spec`` asks for."""
    detail = _detail(spark, path)
    problems = []
    partitions = list(detail["partitionColumns"])
    if partitions != list(spec.partition_by):
        expected = list(spec.partition_by) or "nothing"
        problems.append(f"partitioned by {partitions or 'nothing'}, expected {expected}")
    if not _is_on(detail, CDF_PROPERTY):
        problems.append(f"change data feed off ({CDF_PROPERTY} is not true)")
    return problems


def check_layout(spark: SparkSession, spec: TableSpec, path: str) -> None:
    """Refuse a silver table whose layout predates incremental processing.

    Raises:
        LakeLayoutError: The table exists with other partitioning or without the change data
            feed; the message says to run ``etl-app migrate``.
    """
    if exists(spark, path):
        problems = layout_problems(spark, spec, path)
        if problems:
            raise LakeLayoutError(spec.silver, path, problems)


def create_table(
    spark: SparkSession,
    spec: TableSpec,
    path: str,
    schema: StructType,
    *,
    deletion_vectors: bool = False,
) -> None:
    """Create the empty silver table (metadata-only commit) with the spec's layout.

    Another run creating it at the same moment, or an interrupted first write's leftover, is
    handled by :func:`create_once`.

    Args:
        spark: Session with Delta Lake.
        spec: The source (partitioning).
        path: Table location.
        schema: The silver schema.
        deletion_vectors: Create the table with ``delta.enableDeletionVectors``.
    """
    properties = {CDF_PROPERTY: "true"}
    if deletion_vectors:
        properties[DV_PROPERTY] = "true"

    def create() -> None:
        if _delta_sql.is_connect(spark):
            _delta_sql.create_if_not_exists(
                spark, path, schema, partition_by=spec.partition_by, properties=properties
            )
            return
        from delta.tables import DeltaTable

        builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
        for key, value in properties.items():
            builder = builder.property(key, value)
        if spec.partition_by:
            builder = builder.partitionedBy(*spec.partition_by)
        builder.execute()

    create_once(spark, path, create)


def create_once(spark: SparkSession, path: str, create: Callable[[], None]) -> None:
    """Run ``create`` (a create-if-not-exists of the table at ``path``), beside other runs.

    - A ``_delta_log`` folder without a commit on a local path (an interrupted first write)
      is removed first: it holds nothing, and Delta would neither read it as a table nor
      create one over it. When a file in it is under a minute old, another run may be writing
      its first commit there: that table is waited for (about 30 s) instead.
    - Delta refusing the creation because another writer's files are there without their
      commit yet (:func:`is_creation_race`): that run's commit is waited for.
    - Any failure after which the table exists (another run's commit won): the table is there.

    Raises:
        Exception: Delta's own error when the location holds something that never becomes a
            table (for example files of another format).
    """
    local = _storage.local_path(path)
    if local is not None and (local / "_delta_log").is_dir() and not exists(spark, path):
        log = local / "_delta_log"
        if not any(log.glob("*.json")) and not any(log.glob("*.checkpoint*")):
            if _commit_in_flight(log) and wait_for_table(spark, path):
                return
            shutil.rmtree(log)
    try:
        create()
    except Exception as exc:
        if exists(spark, path):
            return
        if is_creation_race(exc) and wait_for_table(spark, path):
            return
        raise


#: How recent a file in a commit-less ``_delta_log`` must be to count as another run's
#: creation in progress (Delta writes its first commit as a temp file, then renames it).
IN_FLIGHT_S = 60.0


def _commit_in_flight(log: Path) -> bool:
    """Whether ``log`` holds a file written in the last minute: another run's first commit.

    Removing such a folder would make that run's commit fail (its temp file gone): the table
    is waited for instead. An older leftover is an interrupted first write, safe to remove.
    """
    now = time.time()
    return any(now - entry.stat().st_mtime < IN_FLIGHT_S for entry in log.iterdir())


#: Delta's refusals (4.x) to create a table where another writer's first write is under way:
#: its commit-less ``_delta_log`` (``DELTA_TABLE_NOT_FOUND``), its data files without a log
#: (``DELTA_MISSING_DELTA_TABLE``), or its commit landing during ours.
_CREATION_RACE = (
    "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION",
    "DELTA_TABLE_NOT_FOUND",
    "DELTA_MISSING_DELTA_TABLE",
)


def is_creation_race(exc: BaseException) -> bool:
    """Whether ``exc`` may be a concurrent creation: another run's table, not yet committed."""
    return any(marker in str(exc) for marker in _CREATION_RACE)


def wait_for_table(spark: SparkSession, path: str, attempts: int = 6) -> bool:
    """Wait for another run's first commit at ``path`` (backing off up to about 30 s in all).

    Returns:
        Whether the table exists; False means the location really holds something else.
    """
    for attempt in range(attempts):
        if exists(spark, path):
            return True
        time.sleep(0.5 * 2**attempt)
    return exists(spark, path)


@dataclass(frozen=True)
class Migration:
    """What :func:`migrate` did to one table.

    Attributes:
        table: Table name (``silver.orders``).
        path: Table location.
        problems: The layout differences found (empty: nothing to do).
        rows: Rows in the table (before and after: the rewrite checks they are equal).
        version: The version of the rewrite commit, None when nothing was rewritten.
    """

    table: str
    path: str
    problems: tuple[str, ...]
    rows: int | None = None
    version: int | None = None


def enable_deletion_vectors(spark: SparkSession, table: str, path: str) -> Migration:
    """Switch Delta's deletion vectors on for an existing table (a metadata commit).

    This upgrades the table's protocol (reader version 3, writer version 7 with the
    ``deletionVectors`` feature): engines that do not support the feature refuse to read the
    table instead of misreading it. A table that already has them, or none, is left alone.
    """
    if not exists(spark, path) or _is_on(_detail(spark, path), DV_PROPERTY):
        return Migration(table, path, ())
    switch_on_deletion_vectors(spark, path)
    return Migration(table, path, (f"deletion vectors off ({DV_PROPERTY} is not true)",))


def switch_on_deletion_vectors(spark: SparkSession, path: str) -> None:
    """Set ``delta.enableDeletionVectors`` on the Delta table at ``path`` (one commit)."""
    spark.sql(f"ALTER TABLE {_delta_sql.table_ref(path)} SET TBLPROPERTIES ({DV_PROPERTY} = true)")


def migrate(
    spark: SparkSession, spec: TableSpec, path: str, *, deletion_vectors: bool = False
) -> Migration:
    """Bring an existing silver table to the spec's layout.

    The change data feed is switched on (a metadata commit); a table partitioned otherwise is
    rewritten from its current version in ONE overwrite commit (``overwriteSchema`` with the
    new partitioning), after which Delta's ``numOutputRows`` must equal the rows read. Older
    versions stay in the table history (``RESTORE`` to go back). With ``deletion_vectors``,
    they are switched on too (:func:`enable_deletion_vectors`).

    Raises:
        RuntimeError: The rewrite did not write exactly the rows it read (the table keeps the
            rewrite; restore the version before it).
    """
    if not exists(spark, path):
        return Migration(spec.silver, path, ())
    vectors = enable_deletion_vectors(spark, spec.silver, path).problems if deletion_vectors else ()
    problems = tuple(layout_problems(spark, spec, path))
    if not problems:
        return Migration(spec.silver, path, vectors)
    problems += vectors

    def newest() -> Any:
        return spark.sql(f"DESCRIBE HISTORY {_delta_sql.table_ref(path)} LIMIT 1").collect()[0]

    spark.sql(f"ALTER TABLE {_delta_sql.table_ref(path)} SET TBLPROPERTIES ({CDF_PROPERTY} = true)")
    detail = _detail(spark, path)
    if list(detail["partitionColumns"]) == list(spec.partition_by):
        return Migration(spec.silver, path, problems)
    version = int(newest()["version"])
    current: DataFrame = spark.read.format("delta").option("versionAsOf", version).load(path)
    rows = current.count()
    writer = current.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    if spec.partition_by:
        writer = writer.partitionBy(*spec.partition_by)
    writer.save(path)
    commit = newest()
    written = int((commit["operationMetrics"] or {}).get("numOutputRows", -1))
    if written != rows:
        raise RuntimeError(
            f"migrating {spec.silver} at {path}: version {version} holds {rows} rows but the "
            f"rewrite (version {commit['version']}) wrote {written}; restore version "
            f"{version} (RESTORE TABLE delta.`{path}` TO VERSION AS OF {version})"
        )
    return Migration(spec.silver, path, problems, rows, int(commit["version"]))
