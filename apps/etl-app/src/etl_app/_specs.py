"""The pipeline as data: its stages, and one spec per source saying how it flows to silver.

The silver stage has no per-source code: it reads a source's bronze batch, types it with the
spec's function, runs the gate ``silver.<name>.yaml``, keeps the latest row per key by the
spec's order column and writes it the spec's way (key-checked MERGE upsert, or SCD2 history).
Adding a source means adding a :class:`TableSpec` (plus its gate, its bronze and silver
schemas and its input files); no branch in the pipeline changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from etl_app import _transform as tr
from etl_app._config import SourceConfig
from etl_app.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class Stage(StrEnum):
    """What a run does: one stage, or all of them in order."""

    FULL = "full"
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"

    @classmethod
    def parse(cls, value: str | Stage) -> Stage:
        """Return the stage named ``value``.

        Raises:
            ConfigError: ``value`` names no stage (exit code 2), with the valid names.
        """
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(repr(s.value) for s in cls)
            raise ConfigError(
                "the requested stages", [f"stages: expected one of {names}, got {value!r}"]
            ) from None

    def selected(self) -> tuple[Stage, ...]:
        """The stages this request runs, in order."""
        if self is Stage.FULL:
            return (Stage.BRONZE, Stage.SILVER, Stage.GOLD)
        return (self,)


class WriteMode(StrEnum):
    """How a source's de-duplicated batch is written to its silver table."""

    #: Upsert on the key: a key already in silver is updated, a new one inserted.
    MERGE = "merge"
    #: SCD Type 2 history: a change of a tracked column closes the current version and opens
    #: a new one, effective at the spec's order column.
    SCD2 = "scd2"


@dataclass(frozen=True)
class TableSpec:
    """How one source goes from its raw files to its silver table.

    Attributes:
        name: Source name: input files ``input.<name>``, tables ``bronze/<name>``,
            ``silver/<name>``, ``quarantine/<name>``, gate ``silver.<name>.yaml``, schemas
            ``bronze.<name>`` and ``silver.<name>``.
        key: Business key column (one row per key in silver, or per version for SCD2).
        order_by: Column deciding which of a batch's rows for a key is the latest (and, for
            SCD2, when the change takes effect).
        typing: Bronze rows (all strings) -> typed rows (unparsable values become NULL).
        columns: Silver columns, in order (what the gate's valid rows are narrowed to).
        mode: Merge (upsert) or SCD2.
        input: File pattern and format when the config has no ``input.<name>`` entry.
        tracked: SCD2 only: columns whose change opens a new version.
        partition_by: Partition columns of the silver table (created with them); gold reads
            only the partitions a batch touched.
        keys_grow: Merge only: new keys are higher than old ones (sequence or dated ids), so
            a batch's keys fall in a narrow range of the table; the MERGE then adds that range
            to its condition (delta-safe-writer's ``prune_by_key_range``) and reads only the
            files whose key statistics overlap it, not the whole table.
        deletion_vectors: The table's key is spread over all its rows (a batch's keys fall
            in every file), so it is created with Delta's deletion vectors: a MERGE then
            marks the rows it replaces instead of rewriting every file it touches. Only
            when the config's ``output.deletion_vectors`` is on.
    """

    name: str
    key: str
    order_by: str
    typing: Callable[[DataFrame], DataFrame]
    columns: tuple[str, ...]
    mode: WriteMode
    input: SourceConfig
    tracked: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    keys_grow: bool = False
    deletion_vectors: bool = False

    def __post_init__(self) -> None:
        needed = (self.key, self.order_by, *self.partition_by, *self.tracked)
        missing = [c for c in needed if c not in self.columns]
        if missing:
            raise ValueError(
                f"table spec {self.name!r}: column(s) {', '.join(missing)} are not among its "
                f"silver columns ({', '.join(self.columns)})"
            )
        if self.keys_grow and self.mode is not WriteMode.MERGE:
            raise ValueError(
                f"table spec {self.name!r}: keys_grow prunes a merge's reads by key range and "
                f"is only allowed for mode merge (mode {self.mode.value})"
            )
        if (self.mode is WriteMode.SCD2) != bool(self.tracked):
            raise ValueError(
                f"table spec {self.name!r}: tracked columns are required for mode scd2 and "
                f"only allowed there (mode {self.mode.value}, tracked {list(self.tracked)})"
            )

    @property
    def bronze(self) -> str:
        """Subject and table name in bronze (``bronze.orders``)."""
        return f"bronze.{self.name}"

    @property
    def silver(self) -> str:
        """Subject and table name in silver (``silver.orders``)."""
        return f"silver.{self.name}"

    @property
    def quarantine(self) -> str:
        """Table name of the rows the gate rejected (``quarantine.orders``)."""
        return f"quarantine.{self.name}"


CUSTOMERS = TableSpec(
    name="customers",
    key=tr.CUSTOMER_KEY,
    order_by="updated_at",
    typing=tr.type_customers,
    columns=tr.SILVER_CUSTOMER_COLUMNS,
    mode=WriteMode.SCD2,
    input=SourceConfig("customers_*.csv", "csv"),
    tracked=tr.CUSTOMER_TRACKED,
    deletion_vectors=True,
)
ORDERS = TableSpec(
    name="orders",
    key=tr.ORDER_KEY,
    order_by="order_ts",
    typing=tr.type_orders,
    columns=tr.SILVER_ORDER_COLUMNS,
    mode=WriteMode.MERGE,
    input=SourceConfig("orders_*.json", "json"),
    partition_by=("order_date",),
    keys_grow=True,
)
#: The bundled pipeline's sources, in processing order (customers first: gold joins them).
DEFAULT_SPECS: tuple[TableSpec, ...] = (CUSTOMERS, ORDERS)
