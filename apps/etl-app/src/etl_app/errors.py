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


class StorageUnavailableError(EtlAppError):
    """The input or output storage (an object store) could not be reached or refused access.

    Like :class:`SparkUnavailableError` a problem of the environment (exit code 3): the step
    that failed committed nothing (Delta commits last, the ledger after the data), so the same
    run completes once the endpoint, the network path or the credentials are fixed.

    Attributes:
        endpoint: The storage endpoint the session used (never a credential).
    """

    exit_code = 3

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint


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

    Every term is counted by a different party: ``bronze`` by the bronze commit (Delta's
    ``numOutputRows``, kept in the ledger), ``gate_in`` / ``gate_valid`` / ``gate_dropped`` by
    the gate's pass, ``quarantined`` by the quarantine commit, ``dedup_kept`` and
    ``duplicates_dropped`` by the de-duplication's own pass, ``silver`` by the silver commit
    (Delta's ``operationMetrics``). A check known before the silver commit stops the batch
    before writing; the last one (``silver == dedup_kept``) runs after it, and a failure there
    rolls the commit back.

    Attributes:
        table: The table whose batch did not reconcile.
        batch_id: The bronze batch id.
        counts: The counts that were compared.
        check: The check that failed (``silver == dedup_kept``, ...), when known.
        missing: Rows missing on the right-hand side of that check (negative: extra rows).
        rolled_back: Whether a silver commit was made and rolled back (else none was made).
    """

    def __init__(
        self,
        table: str,
        batch_id: int,
        counts: dict[str, int],
        *,
        check: str | None = None,
        missing: int | None = None,
        rolled_back: bool = False,
    ) -> None:
        self.table = table
        self.batch_id = batch_id
        self.counts = dict(counts)
        self.check = check
        self.rolled_back = rolled_back
        dropped = counts.get("gate_dropped", 0)
        accounted = (
            counts["silver"] + counts["quarantined"] + counts["duplicates_dropped"] + dropped
        )
        self.missing = counts["bronze"] - accounted if missing is None else missing
        terms = (
            f"silver {counts['silver']} + quarantined {counts['quarantined']} + duplicates "
            f"dropped {counts['duplicates_dropped']}"
        )
        if dropped:
            terms += f" + dropped by the gate {dropped}"
        amount = abs(self.missing)
        rows = f"{amount} row{'s' if amount != 1 else ''}"
        what = f"{rows} {'missing' if self.missing >= 0 else 'too many'}"
        where = f" ({what} in check {check})" if check else f" ({what})"
        outcome = (
            "The silver commit was rolled back, so silver is unchanged"
            if rolled_back
            else "Nothing was written to silver"
        )
        super().__init__(
            f"reconciliation failed for {table} batch {batch_id}: bronze has {counts['bronze']} "
            f"rows but {terms} = {accounted}{where}. {outcome}; gold was not updated and the "
            "batch stays pending. Inspect it in the bronze table (column batch_id), the "
            "quarantine table and the ledger (_etl_state/batches under the data root), fix the "
            "cause and rerun."
        )


class LedgerError(EtlAppError):
    """The batch ledger under the data root is unreadable or not a valid ledger.

    Attributes:
        path: The ledger file.
        problems: What is wrong, one line each (key path first).
    """

    exit_code = 2

    def __init__(
        self, path: object, problems: list[str], *, table: bool = False, missing: bool = False
    ) -> None:
        self.path = path
        self.problems = list(problems)
        shown = "; ".join(self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        if missing:
            message = (
                f"batch ledger {path}: {shown}{more}. List the batches with `etl-app batches list`."
            )
        elif table:
            message = (
                f"the batch ledger table {path} is corrupt: {shown}{more}. It maps every input "
                "file to its batch id and records how far each batch got, so do not delete it "
                "(every file would be ingested again as a new batch). It is a Delta table: "
                f"find its last good version with DESCRIBE HISTORY delta.`{path}` and restore "
                f"it (RESTORE TABLE delta.`{path}` TO VERSION AS OF <n>), then rerun."
            )
        else:
            message = (
                f"the batch ledger {path} is corrupt: {shown}{more}. It maps every input file "
                "to its batch id and records how far each batch got, so do not delete it "
                f"(every file would be ingested again as a new batch). The previous version is "
                f"{path}.bak: if it is intact, copy it over the ledger; otherwise fix the "
                "entries named above by hand. Then rerun."
            )
        super().__init__(message)


class LakeLayoutError(EtlAppError):
    """A table under the data root was written by an older etl-app in a layout it no longer uses.

    Attributes:
        table: The table (``silver.orders``).
        problems: How its layout differs.
    """

    exit_code = 2

    def __init__(self, table: str, path: str, problems: list[str]) -> None:
        self.table = table
        self.problems = list(problems)
        super().__init__(
            f"{table} at {path} has the layout of an older etl-app: {'; '.join(problems)}. "
            "Batches are processed incrementally from the silver tables' change data feed and "
            "gold reads only the order dates a batch touched, which needs the new layout. Run "
            "'etl-app migrate' once with the same --config / --env / --output (it rewrites the "
            "table in one commit, keeping its history, and enables the change data feed), then "
            "rerun."
        )


class GoldWriteError(EtlAppError):
    """A gold table could not be computed or written; names the table, column and values.

    Silver is unchanged and the batches stay pending for gold, so a rerun retries them once
    the cause (usually an implausible value that passed the gates) is fixed.

    Attributes:
        table: The gold table (``gold.daily_revenue``).
        column: The column whose values the write covered (``order_date``).
        values: Those values (at most a few shown in the message).
    """

    def __init__(self, table: str, column: str, values: list[str], cause: str) -> None:
        self.table = table
        self.column = column
        self.values = list(values)
        shown = ", ".join(self.values[:10]) + (" ..." if len(self.values) > 10 else "")
        which = f"{column} in [{shown}]" if self.values else f"the touched {column} values"
        super().__init__(
            f"{table}: computing or writing {which} failed: {cause}. Silver is unchanged and "
            "these batches stay pending for gold. Look for implausible values of "
            f"{column} in silver (the gates refuse timestamps before 1900 or from 2100 on); "
            "correct the source rows and rerun."
        )


class InputReconciliationError(EtlAppError):
    """The records read from an input file do not add up to the rows landed from it.

    ``records`` (and, for JSON lines, ``lines``: the non-blank lines, counted by a plain text
    reader) come from the file; ``bronze`` from the bronze commit; ``unreadable`` from the
    commit of the unreadable records' table.

    Attributes:
        file: The input file.
        counts: The counts compared.
    """

    def __init__(self, file: str, counts: dict[str, int], check: str) -> None:
        self.file = file
        self.counts = dict(counts)
        self.check = check
        shown = ", ".join(f"{k} {v}" for k, v in counts.items())
        super().__init__(
            f"input reconciliation failed for {file}: check {check} does not hold ({shown}). "
            "The rows stay in bronze and the unreadable table as committed, but the batch is "
            "not processed further; compare the file with both tables (column batch_id), fix "
            "the cause and rerun."
        )
