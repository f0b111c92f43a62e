"""Delta and Spark failures mapped to typed errors in one place: by class and error class.

PySpark exposes a failure's error class (``getCondition``), SQLSTATE and message parameters on
its own exception types, on classic and Connect sessions alike, and delta-spark raises its own
Python classes for commit conflicts. Those are what this module reads. Two gaps remain on a
classic session, and only there does it read the message text:

- JVM exceptions PySpark does not convert (Delta's ``DeltaInvariantViolationException`` for
  CHECK / NOT NULL / generated-column violations, ``TASK_WRITE_FAILED`` wrapping a failure
  inside a write task) arrive as a bare ``Py4JJavaError``; the only public view of them and
  of their ``Caused by:`` chain is their text, where each starts with the Spark-standard
  ``[ERROR_CLASS]`` tag.
- PySpark cannot render some Delta error classes (``DELTA_MERGE_UNRESOLVED_EXPRESSION``) and
  raises an ``INTERNAL_ERROR`` from its message helper instead; the original exception is
  that error's ``__context__``, again only as text.

Delta's constraint messages put the offending values in text (``values`` is one parameter
holding ``" - column : value"`` lines), so those are parsed from text in every case.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from delta_safe_writer.errors import (
    ConstraintViolationError,
    SafeWriteError,
    TableNotFoundError,
    UnresolvedColumnError,
    UnsafeWriteError,
)

_TAG = re.compile(r"\[([A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)*)\]")
_SQLSTATE = re.compile(r"SQLSTATE: ([0-9A-Z]{5})")
_CAUSED_BY = re.compile(
    r"^Caused by: [\w.$]+: (?P<message>.*?)(?=\n\s+at |\n\s*\.\.\. \d+ more|\Z)",
    re.DOTALL | re.MULTILINE,
)
_CHECK = re.compile(
    r"CHECK constraint (?P<rest>.*?) violated by row with values:(?P<values>.*)", re.DOTALL
)
_VALUE_LINE = re.compile(r"^\s*-\s*(?P<column>.+?)\s*:\s*(?P<value>.*?)\s*$")
_NOT_NULL = re.compile(r"NOT NULL constraint violated for column: (?P<column>.+?)\.?\s*$", re.M)
_MISSING_NOT_NULL = re.compile(r"Column (?P<column>.+?), which has a NOT NULL constraint")
_MERGE_UNRESOLVED = re.compile(
    r"Cannot resolve (?P<sqlExpr>.+?) in (?P<clause>.+?) given columns (?P<cols>.*?)\.(?:;|\s|$)"
)
_UNRESOLVED_NAME = re.compile(r"with name (?P<objectName>`[^`]*`(?:\.`[^`]*`)*) cannot be resolved")
_PROPOSAL = re.compile(r"Did you mean one of the following\? \[(?P<proposal>[^\]]*)\]")
_GENERATED = "Generated Column"
_REPLACE_WHERE_CONSTRAINT = "EXPRESSION("

#: Delta's commit-conflict error classes and the Python exception names delta-spark gives them.
_CONFLICT_CLASSES = {
    "DELTA_CONCURRENT_APPEND": "ConcurrentAppendException",
    "DELTA_CONCURRENT_DELETE_READ": "ConcurrentDeleteReadException",
    "DELTA_CONCURRENT_DELETE_DELETE": "ConcurrentDeleteDeleteException",
    "DELTA_CONCURRENT_TRANSACTION": "ConcurrentTransactionException",
    "DELTA_CONCURRENT_WRITE": "ConcurrentWriteException",
    "DELTA_METADATA_CHANGED": "MetadataChangedException",
    "DELTA_PROTOCOL_CHANGED": "ProtocolChangedException",
}
_CONFLICT_NAMES = {*_CONFLICT_CLASSES.values(), "DeltaConcurrentModificationException"}
_CONFLICT_SQLSTATE = "2D521"
#: A constraint violation: SQLSTATE class 23 (integrity constraint violation).
_CONSTRAINT_CLASSES = {
    "DELTA_VIOLATE_CONSTRAINT_WITH_VALUES": "23001",
    "DELTA_NOT_NULL_CONSTRAINT_VIOLATED": "23502",
    "DELTA_MISSING_NOT_NULL_COLUMN_VALUE": "23502",
}
_MISSING_TABLE_CLASSES = {
    "DELTA_MISSING_DELTA_TABLE",
    "DELTA_TABLE_NOT_FOUND",
    "DELTA_TABLE_ONLY_OPERATION",
    "TABLE_OR_VIEW_NOT_FOUND",
    "PATH_NOT_FOUND",
}
_UNRESOLVED_SQLSTATE = "42703"
_MERGE_UNRESOLVED_CLASS = "DELTA_MERGE_UNRESOLVED_EXPRESSION"
_REPLACE_WHERE_MISMATCH = "DELTA_REPLACE_WHERE_MISMATCH"
_USER_RAISED = "USER_RAISED_EXCEPTION"


@dataclass(frozen=True)
class Failure:
    """One exception of a failure's chain, as Spark describes it.

    Attributes:
        condition: Spark's error class (``getCondition``), or the ``[TAG]`` of a JVM message.
        sql_state: The SQLSTATE, when known.
        parameters: The error's message parameters (empty when only text was available).
        message: The exception's text (for a ``Py4JJavaError``, the JVM exception's message).
        exception: The exception itself.
    """

    condition: str | None
    sql_state: str | None
    parameters: Mapping[str, str]
    message: str
    exception: BaseException = field(compare=False)


def _call(exc: BaseException, method: str) -> object:
    getter = getattr(exc, method, None)
    if getter is None:
        return None
    try:
        return getter()
    except Exception:  # a JVM-side failure to describe the error: read its text instead
        return None


def _jvm_message(text: str) -> str:
    """The JVM exception's own message out of a ``Py4JJavaError`` text (stack trace cut)."""
    head, _, rest = text.partition("\n: ")
    body = rest if rest else head
    body = body.split("\n\tat ", 1)[0]
    # "org.apache....SomeException: [CLASS] message" -> "[CLASS] message"
    match = re.match(r"^[\w.$]+: ", body)
    return body[match.end() :] if match else body


def describe(exc: BaseException) -> Failure:
    """What Spark says about one exception (no cause chain)."""
    condition = _call(exc, "getCondition")
    if condition is not None:
        state = _call(exc, "getSqlState")
        parameters = _call(exc, "getMessageParameters")
        return Failure(
            condition=str(condition),
            sql_state=str(state) if state else None,
            parameters=dict(parameters) if isinstance(parameters, Mapping) else {},
            message=str(exc),
            exception=exc,
        )
    text = str(exc)
    if type(exc).__name__ == "Py4JJavaError":
        text = _jvm_message(text)
    tag = _TAG.search(text.split("\n", 1)[0])
    state_match = _SQLSTATE.search(text)
    found = tag.group(1) if tag else None
    state = state_match.group(1) if state_match else _CONSTRAINT_CLASSES.get(found or "")
    return Failure(condition=found, sql_state=state, parameters={}, message=text, exception=exc)


def _jvm_trace(exc: BaseException) -> str | None:
    """The JVM stack trace text of ``exc``, where its causes are listed, if it has one.

    A ``Py4JJavaError`` (classic) holds it in its text; a Spark Connect exception gets it
    from the server (``getStackTrace``: every cause's class and message, with the frames
    when the server sends them).
    """
    if type(exc).__name__ == "Py4JJavaError":
        return str(exc)
    trace = _call(exc, "getStackTrace")
    return trace if isinstance(trace, str) else None


def _jvm_causes(trace: str, exc: BaseException) -> Iterator[Failure]:
    """The ``Caused by:`` exceptions in a JVM stack trace text.

    A failure inside a write task reaches the driver wrapped (``TASK_WRITE_FAILED``); the
    JVM exception's own cause chain is only in the text.
    """
    for match in _CAUSED_BY.finditer(trace):
        text = match.group("message")
        tag = _TAG.search(text.split("\n", 1)[0])
        condition = tag.group(1) if tag else None
        state = _SQLSTATE.search(text)
        yield Failure(
            condition=condition,
            sql_state=state.group(1) if state else _CONSTRAINT_CLASSES.get(condition or ""),
            parameters={},
            message=text,
            exception=exc,
        )


def chain(exc: BaseException) -> Iterator[Failure]:
    """``exc`` and every exception it was raised from or while handling, outermost first.

    The JVM causes listed in an exception's JVM stack trace (a ``Py4JJavaError``'s text, a
    Spark Connect exception's server stack trace) follow it.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield describe(current)
        trace = _jvm_trace(current)
        if trace is not None:
            yield from _jvm_causes(trace, current)
        pending.extend([current.__cause__, current.__context__])


def user_raised(exc: BaseException, marker: str) -> bool:
    """Whether an ``assert_true(..., marker)`` of the writer's own aborted the job."""
    for failure in chain(exc):
        if failure.parameters.get("errorMessage") == marker:
            return True
        if failure.condition == _USER_RAISED and marker in failure.message:
            return True
    return False


def has_condition(exc: BaseException, *conditions: str) -> bool:
    """Whether any exception of the chain carries one of the error classes."""
    return any(f.condition in conditions for f in chain(exc))


def conflict_name(exc: BaseException) -> str | None:
    """The Delta conflict behind ``exc`` (e.g. ``ConcurrentAppendException``), else None.

    delta-spark raises subclasses of ``delta.exceptions.base`` classes on classic sessions
    (and on Connect with its client registered); a Connect session without it reports the
    error class with Delta's conflict SQLSTATE ``2D521``.
    """
    for klass in type(exc).__mro__:
        if klass.__module__.startswith("delta.") and klass.__name__ in _CONFLICT_NAMES:
            return klass.__name__
    failure = describe(exc)
    if failure.condition in _CONFLICT_CLASSES:
        return _CONFLICT_CLASSES[failure.condition]
    if failure.sql_state == _CONFLICT_SQLSTATE:
        return failure.condition or type(exc).__name__
    return None


@dataclass(frozen=True)
class Violation:
    """A constraint violation as Delta reported it."""

    kind: str
    constraint: str
    expression: str
    values: Mapping[str, str]


def _values(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _VALUE_LINE.match(line)
        if match:
            values[match.group("column")] = match.group("value")
    return values


def _check_violation(text: str, parameters: Mapping[str, str] | None = None) -> Violation | None:
    parameters = parameters or {}
    if "constraintName" in parameters:
        name = parameters["constraintName"]
        expression = parameters.get("expression", "")
        values = _values(parameters.get("values", ""))
    else:
        match = _CHECK.search(text)
        if match is None:
            return None
        rest = match.group("rest")
        if rest.startswith(_GENERATED + " "):
            name, expression = _GENERATED, rest[len(_GENERATED) + 1 :]
        elif rest.startswith(_REPLACE_WHERE_CONSTRAINT):
            # "EXPRESSION(<predicate>) (<predicate as SQL>)": the name ends at ") (".
            cut = rest.find(") (")
            name, expression = (rest[: cut + 1], rest[cut + 2 :]) if cut >= 0 else (rest, "")
        else:
            name, _, expression = rest.partition(" ")
        values = _values(match.group("values"))
    kind = "generated" if name == _GENERATED else "check"
    return Violation(kind=kind, constraint=name, expression=expression, values=values)


def violation(failure: Failure) -> Violation | None:
    """The constraint violation a failure reports, if it is one."""
    if failure.condition == "DELTA_VIOLATE_CONSTRAINT_WITH_VALUES":
        return _check_violation(failure.message, failure.parameters)
    if failure.condition in (
        "DELTA_NOT_NULL_CONSTRAINT_VIOLATED",
        "DELTA_MISSING_NOT_NULL_COLUMN_VALUE",
    ):
        column = failure.parameters.get("columnName")
        if column is None:
            match = _NOT_NULL.search(failure.message) or _MISSING_NOT_NULL.search(failure.message)
            column = match.group("column") if match else "?"
        return Violation(
            kind="not_null",
            constraint=column,
            expression=f"{column} IS NOT NULL",
            values={column: "null"},
        )
    if failure.condition == _REPLACE_WHERE_MISMATCH:
        inner = failure.parameters.get("message") or failure.message
        return _check_violation(inner)
    return None


def is_replace_where_guard(found: Violation) -> bool:
    """Whether a violation is Delta's own replaceWhere check (rows outside the predicate)."""
    return found.constraint.startswith(_REPLACE_WHERE_CONSTRAINT)


def _unresolved(failure: Failure) -> tuple[str, list[str]] | None:
    """The unresolved name and Spark's suggestions, if the failure is an unresolved column."""
    condition = failure.condition or ""
    parameters = failure.parameters
    if condition == _MERGE_UNRESOLVED_CLASS:
        name = parameters.get("sqlExpr")
        if name is None:
            match = _MERGE_UNRESOLVED.search(failure.message)
            if match is None:
                return None
            name = match.group("sqlExpr")
        return name, []
    if condition.startswith("UNRESOLVED_COLUMN") or failure.sql_state == _UNRESOLVED_SQLSTATE:
        name = parameters.get("objectName")
        proposal = parameters.get("proposal")
        if name is None:
            match = _UNRESOLVED_NAME.search(failure.message)
            name = match.group("objectName") if match else "?"
        if proposal is None:
            match = _PROPOSAL.search(failure.message)
            proposal = match.group("proposal") if match else ""
        suggestions = [p.strip() for p in proposal.split(",") if p.strip()]
        return name, suggestions
    return None


def _bare(name: str) -> str:
    return name.replace("`", "").lower()


def _argument_for(name: str, expressions: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Which of the writer's arguments holds the unresolved ``name``."""
    wanted = _bare(name).rsplit(".", 1)[-1]
    holding = [(arg, text) for arg, text in expressions.items() if wanted in text.lower()]
    if len(holding) == 1:
        return holding[0]
    if len(expressions) == 1:
        return next(iter(expressions.items()))
    return None, None


def _constraint_error(
    found: Violation, exc: BaseException, *, operation: str, table: str
) -> ConstraintViolationError:
    shown = ", ".join(f"{k} = {v}" for k, v in found.values.items()) or "(no values reported)"
    if found.kind == "not_null":
        what = f"NOT NULL column {found.constraint} got a NULL"
        fix = (
            f"Fill or filter NULLs in {found.constraint} first (e.g. "
            f"df.filter('{found.constraint} IS NOT NULL'))."
        )
    elif found.kind == "generated":
        what = (
            f"a value given for a generated column does not match its generation expression "
            f"{found.expression}; row: {shown}"
        )
        fix = "Drop the generated column from the DataFrame so Delta computes it."
    else:
        what = f"CHECK constraint {found.constraint} {found.expression} fails for row: {shown}"
        fix = (
            "Fix or filter the offending rows first, or change the constraint "
            "(ALTER TABLE ... DROP CONSTRAINT / ADD CONSTRAINT)."
        )
    return ConstraintViolationError(
        f"{operation} to table {table} refused by Delta: {what}. Nothing was committed; the "
        f"table is unchanged. {fix} (Values as Delta prints them: dates as days and "
        f"timestamps as microseconds since the epoch.)",
        table=table,
        kind=found.kind,
        constraint=found.constraint,
        expression=found.expression,
        values=found.values,
        operation=operation,
    )


def classify(
    exc: BaseException,
    *,
    operation: str,
    table: str,
    expressions: Mapping[str, str] | None = None,
) -> SafeWriteError | None:
    """The typed error for a Delta or Spark failure, or None when it is none of ours.

    Args:
        exc: What the Delta action (or a Delta read) raised.
        operation: The writer operation, for the message.
        table: The target table.
        expressions: The SQL expressions the call took from its arguments, by argument
            name (``replace_where``, ``delete_when``), to say which one failed to resolve.

    Returns:
        A ``ConstraintViolationError``, ``UnsafeWriteError`` (rows outside a replaceWhere,
        reported by Delta), ``TableNotFoundError`` or ``UnresolvedColumnError``; None for
        anything else (the caller re-raises the original).
    """
    expressions = expressions or {}
    failures = list(chain(exc))
    for failure in failures:
        found = violation(failure)
        if found is None:
            continue
        if is_replace_where_guard(found):
            predicate = failure.parameters.get("replaceWhere") or expressions.get(
                "replace_where", found.expression
            )
            sample = [dict(found.values)] if found.values else []
            return UnsafeWriteError(
                f"Refused overwrite of table {table}: Delta found incoming row(s) outside "
                f"replace_where {predicate!r}, e.g. {sample} (values as Delta prints them: "
                f"dates as days since the epoch). Nothing was committed. Filter the "
                f"DataFrame to the predicate or widen the predicate.",
                table=table,
                predicate=predicate,
                rows_outside=1,
                sample=sample,
            )
        return _constraint_error(found, exc, operation=operation, table=table)
    for failure in failures:
        if failure.condition in _MISSING_TABLE_CLASSES:
            return TableNotFoundError(
                f"{operation} needs an existing Delta table, but there is none at {table} "
                f"(Spark: {failure.condition}). Check the path or name, or create the table "
                f"first (an append or merge creates it).",
                table=table,
                operation=operation,
            )
    for failure in failures:
        unresolved = _unresolved(failure)
        if unresolved is None:
            continue
        name, suggestions = unresolved
        argument, expression = _argument_for(name, expressions)
        where = f" in {argument}={expression!r}" if argument else ""
        hint = f" Did you mean one of {', '.join(suggestions)}?" if suggestions else ""
        return UnresolvedColumnError(
            f"{operation} on table {table}: column {name}{where} cannot be resolved "
            f"({failure.condition}).{hint} Nothing was committed. Fix the expression (merge "
            f"conditions use s. for the source and t. for the target).",
            table=table,
            column=name,
            argument=argument,
            expression=expression,
            suggestions=suggestions,
            error_class=failure.condition,
        )
    return None
