"""Delta Lake writes that cannot silently lose or duplicate data.

``SafeDeltaWriter`` wraps delta-spark's append, MERGE, replaceWhere overwrite, SCD2 and
restore with pre-write checks, conflict retry, idempotent batch ids, commit metadata,
reconciliation against Delta's own commit metrics and rollback on failed post-write checks,
through delta-spark's ``DeltaTable`` API or, on Spark Connect, Spark SQL.
"""

from importlib.metadata import version

from delta_safe_writer._result import Hook, WriteContext, WriteResult
from delta_safe_writer._storage import storage_error
from delta_safe_writer._writer import SafeDeltaWriter
from delta_safe_writer.errors import (
    ConcurrentWriteError,
    ConstraintViolationError,
    DuplicateKeyError,
    DuplicateTargetKeyError,
    MissingKeyError,
    OutOfOrderChangeError,
    ReconciliationError,
    RollbackError,
    SafeWriteError,
    SchemaMismatchError,
    StorageUnavailableError,
    TableNotFoundError,
    UnresolvedColumnError,
    UnsafeWriteError,
)

__version__ = version("delta-safe-writer")

__all__ = [
    "ConcurrentWriteError",
    "ConstraintViolationError",
    "DuplicateKeyError",
    "DuplicateTargetKeyError",
    "Hook",
    "MissingKeyError",
    "OutOfOrderChangeError",
    "ReconciliationError",
    "RollbackError",
    "SafeDeltaWriter",
    "SafeWriteError",
    "SchemaMismatchError",
    "StorageUnavailableError",
    "TableNotFoundError",
    "UnresolvedColumnError",
    "UnsafeWriteError",
    "WriteContext",
    "WriteResult",
    "__version__",
    "storage_error",
]
