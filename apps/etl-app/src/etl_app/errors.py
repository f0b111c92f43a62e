"""Public exceptions of etl-app: each says what went wrong, where, and how to fix it."""

from __future__ import annotations


class EtlAppError(Exception):
    """Base class of the errors etl-app raises on purpose (the CLI prints them without a trace)."""

    #: Process exit code the CLI uses for this error.
    exit_code: int = 1


class ConfigError(EtlAppError):
    """The configuration file is missing, not YAML, or does not match the expected shape.

    Attributes:
        problems: One line per problem, each starting with the key path (``metrics.textfile``).
    """

    exit_code = 2

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration in {source}:\n{lines}")


class InputError(EtlAppError):
    """An input folder or file the pipeline needs does not exist or holds nothing usable."""

    exit_code = 2


class SparkUnavailableError(EtlAppError):
    """Spark with Delta Lake could not start (no Java, or the Delta jars could not be loaded)."""

    exit_code = 3


class SchemaDriftError(EtlAppError):
    """A source file drifted from its registered bronze schema under drift policy ``fail``."""


class HistoryValidationError(EtlAppError):
    """The SCD2 history written to a dimension broke an SCD2 rule; the write was rolled back.

    Attributes:
        table: The dimension table.
        violations: Violation count per rule.
    """

    def __init__(self, table: str, violations: dict[str, int], details: str) -> None:
        self.table = table
        self.violations = dict(violations)
        super().__init__(
            f"{table}: the SCD2 merge produced an invalid history, so the write was rolled back "
            f"to the previous version: {details}. Late changes are refused before writing, so "
            "look for rows edited outside the pipeline or a change in the SCD2 settings; "
            "correct the source rows or rebuild the dimension from bronze."
        )


class ReconciliationError(EtlAppError):
    """Rows were lost or invented between bronze and silver for a batch.

    Attributes:
        table: The table whose batch did not reconcile.
        batch_id: The bronze batch id.
        counts: The counts that were compared.
    """

    def __init__(self, table: str, batch_id: int, counts: dict[str, int]) -> None:
        self.table = table
        self.batch_id = batch_id
        self.counts = dict(counts)
        accounted = (
            counts["silver"]
            + counts["quarantined"]
            + counts["duplicates_dropped"]
            + counts.get("gate_dropped", 0)
        )
        super().__init__(
            f"reconciliation failed for {table} batch {batch_id}: bronze has {counts['bronze']} "
            f"rows but silver {counts['silver']} + quarantined {counts['quarantined']} + "
            f"duplicates dropped {counts['duplicates_dropped']} = {accounted}. Gold was not "
            "updated and the batch stays pending; inspect it in the bronze table (column "
            "batch_id), the quarantine table and the ledger (_state/ledger.json under the data "
            "root), fix the cause and rerun."
        )
