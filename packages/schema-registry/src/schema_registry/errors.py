"""Public exceptions of schema-registry; every one says what went wrong, where, and what to do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schema_registry._drift import Incompatibility

__all__ = [
    "IncompatibleSchemaError",
    "InvalidSubjectNameError",
    "Scd2SchemaError",
    "Scd2ValidationError",
    "SchemaFileError",
    "SchemaRegistryError",
    "SubjectNotFoundError",
    "TypeParseError",
    "VersionConflictError",
    "VersionNotFoundError",
]


class SchemaRegistryError(Exception):
    """Base class of every error raised by schema-registry."""


class TypeParseError(SchemaRegistryError, ValueError):
    """A type string is not a Spark SQL type.

    Attributes:
        text: The type string.
        position: 0-based offset where parsing failed.
        expected: What the parser expected at that position.
    """

    def __init__(self, text: str, position: int, expected: str) -> None:
        self.text = text
        self.position = position
        self.expected = expected
        pointer = " " * position + "^"
        super().__init__(
            f"cannot parse type {text!r}: expected {expected} at position {position}\n"
            f"  {text}\n  {pointer}"
        )


class SchemaFileError(SchemaRegistryError, ValueError):
    """A schema file (or dict) is malformed.

    Attributes:
        source: File path, or a label such as ``<string>`` for in-memory text.
        location: Where in the document, e.g. ``fields[2] 'address' > fields[0] 'zip' > type``.
        problem: What is wrong and what was expected.
    """

    def __init__(self, source: str, location: str, problem: str) -> None:
        self.source = source
        self.location = location
        self.problem = problem
        where = f"{source}: {location}" if location else source
        super().__init__(f"{where}: {problem}")


class InvalidSubjectNameError(SchemaRegistryError, ValueError):
    """A subject name is not ``<layer>.<table>`` with a known layer."""


class SubjectNotFoundError(SchemaRegistryError, LookupError):
    """The registry holds no version of the subject."""


class VersionNotFoundError(SchemaRegistryError, LookupError):
    """The subject exists but not at the requested version."""


class VersionConflictError(SchemaRegistryError):
    """A version number is already taken by different content, or skips numbers."""


class IncompatibleSchemaError(SchemaRegistryError):
    """A new schema breaks the subject's compatibility mode.

    Attributes:
        subject: The subject name.
        mode: The compatibility mode checked, e.g. ``BACKWARD``.
        problems: Each breaking change, with the version it was checked against.
    """

    def __init__(self, subject: str, mode: str, problems: Sequence[Incompatibility]) -> None:
        self.subject = subject
        self.mode = mode
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"schema for {subject!r} breaks its {mode} compatibility with "
            f"{len(self.problems)} change(s):\n{lines}\n"
            "Make the change compatible (e.g. add columns as nullable, only widen types), or "
            "register it under an explicit, looser compatibility mode if consumers are ready."
        )


class Scd2SchemaError(SchemaRegistryError, ValueError):
    """A table schema lacks the columns, or column types, an SCD2 history needs.

    Attributes:
        problems: One message per missing or mistyped column.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"schema is not a valid SCD2 history:\n{lines}")


class Scd2ValidationError(SchemaRegistryError):
    """An SCD2 history violates one or more rules; ``str()`` lists counts and sample keys."""
