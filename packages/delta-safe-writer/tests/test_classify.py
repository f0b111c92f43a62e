"""Error classification (no JVM): Delta's failures as typed errors, by error class first."""

from __future__ import annotations

import pytest
from delta.exceptions import ConcurrentAppendException

from delta_safe_writer import (
    ConstraintViolationError,
    TableNotFoundError,
    UnresolvedColumnError,
    UnsafeWriteError,
)
from delta_safe_writer._classify import classify, conflict_name, describe, user_raised


class FakeSparkError(Exception):
    """Stands in for a PySpark exception: error class, SQLSTATE and parameters by method."""

    def __init__(
        self,
        message: str,
        condition: str,
        parameters: dict[str, str] | None = None,
        sql_state: str | None = None,
    ) -> None:
        super().__init__(message)
        self._condition = condition
        self._parameters = parameters or {}
        self._sql_state = sql_state

    def getCondition(self) -> str:  # noqa: N802 - PySpark's name
        """The error class."""
        return self._condition

    def getSqlState(self) -> str | None:  # noqa: N802 - PySpark's name
        """The SQLSTATE."""
        return self._sql_state

    def getMessageParameters(self) -> dict[str, str]:  # noqa: N802 - PySpark's name
        """The message parameters."""
        return self._parameters


class Py4JJavaError(Exception):
    """Stands in for py4j's error: a JVM exception PySpark did not convert, text only."""


CHECK_TEXT = (
    "An error occurred while calling o114.save.\n"
    ": org.apache.spark.sql.delta.schema.DeltaInvariantViolationException: "
    "[DELTA_VIOLATE_CONSTRAINT_WITH_VALUES] CHECK constraint positive (n > 0) violated by row "
    "with values:\n - n : -5\n\tat org.apache.spark.sql.delta.schema.Invariant(X.scala:78)\n"
)
GENERATED_TEXT = (
    "An error occurred while calling o138.save.\n"
    ": org.apache.spark.sql.delta.schema.DeltaInvariantViolationException: "
    "[DELTA_VIOLATE_CONSTRAINT_WITH_VALUES] CHECK constraint Generated Column "
    "(d <=> CAST(ts AS DATE)) violated by row with values:\n - d : 19848\n"
    " - ts : 1704157200000000\n\tat org.apache.spark.sql.delta.X(X.scala:1)\n"
)
NOT_NULL_TEXT = (
    "An error occurred while calling o119.save.\n"
    ": org.apache.spark.sql.delta.schema.DeltaInvariantViolationException: "
    "[DELTA_NOT_NULL_CONSTRAINT_VIOLATED] NOT NULL constraint violated for column: id.\n\n"
    "\tat org.apache.spark.sql.delta.X(X.scala:1)\n"
)


def classify_merge(exc: BaseException, **expressions: str) -> object:
    """Classify as a failed merge into table t."""
    return classify(exc, operation="merge", table="t", expressions=expressions)


class TestConstraintViolations:
    def test_check_from_error_class_and_parameters(self) -> None:
        """A CHECK violation PySpark describes is read from its parameters."""
        exc = FakeSparkError(
            "violated",
            "DELTA_VIOLATE_CONSTRAINT_WITH_VALUES",
            {"constraintName": "positive", "expression": "(n > 0)", "values": "\n - n : -5"},
        )

        error = classify_merge(exc)

        assert isinstance(error, ConstraintViolationError)
        assert (error.kind, error.constraint, error.expression) == ("check", "positive", "(n > 0)")
        assert error.values == {"n": "-5"}
        assert error.operation == "merge"
        assert "CHECK constraint positive (n > 0)" in str(error)

    def test_check_from_an_unconverted_jvm_error(self) -> None:
        """Delta's invariant exception reaches Python as a bare Py4JJavaError: read its tag."""
        error = classify_merge(Py4JJavaError(CHECK_TEXT))

        assert isinstance(error, ConstraintViolationError)
        assert (error.kind, error.constraint, error.expression) == ("check", "positive", "(n > 0)")
        assert error.values == {"n": "-5"}
        assert describe(Py4JJavaError(CHECK_TEXT)).sql_state == "23001"

    def test_generated_column(self) -> None:
        """A value contradicting a generation expression is a 'generated' violation."""
        error = classify_merge(Py4JJavaError(GENERATED_TEXT))

        assert isinstance(error, ConstraintViolationError)
        assert (error.kind, error.constraint) == ("generated", "Generated Column")
        assert error.expression == "(d <=> CAST(ts AS DATE))"
        assert error.values == {"d": "19848", "ts": "1704157200000000"}
        assert "Drop the generated column" in str(error)

    def test_not_null(self) -> None:
        """A NULL in a NOT NULL column names the column."""
        error = classify_merge(Py4JJavaError(NOT_NULL_TEXT))

        assert isinstance(error, ConstraintViolationError)
        assert (error.kind, error.constraint, error.expression) == (
            "not_null",
            "id",
            "id IS NOT NULL",
        )

    def test_check_inside_a_replace_where_mismatch_is_the_constraint(self) -> None:
        """A CHECK violation Delta wraps in DELTA_REPLACE_WHERE_MISMATCH is the constraint."""
        exc = FakeSparkError(
            "mismatch",
            "DELTA_REPLACE_WHERE_MISMATCH",
            {
                "replaceWhere": "d = '2024-01-02'",
                "message": "[DELTA_VIOLATE_CONSTRAINT_WITH_VALUES] CHECK constraint positive "
                "(n > 0) violated by row with values:\n - n : -5",
            },
        )

        error = classify(exc, operation="overwrite_partitions", table="t")

        assert isinstance(error, ConstraintViolationError)
        assert (error.constraint, error.values) == ("positive", {"n": "-5"})

    def test_replace_where_guard_of_delta_is_rows_outside(self) -> None:
        """Delta's own replaceWhere check failing means rows outside the predicate."""
        exc = FakeSparkError(
            "mismatch",
            "DELTA_REPLACE_WHERE_MISMATCH",
            {
                "replaceWhere": "d = '2024-01-03'",
                "message": "[DELTA_VIOLATE_CONSTRAINT_WITH_VALUES] CHECK constraint "
                "EXPRESSION(('d = 2024-01-03)) (d = '2024-01-03') violated by row with "
                "values:\n - d : 19724",
            },
        )

        error = classify(exc, operation="overwrite_partitions", table="t")

        assert isinstance(error, UnsafeWriteError)
        assert error.predicate == "d = '2024-01-03'"
        assert error.sample == ({"d": "19724"},)
        assert error.rows_outside == 1


class TestOtherClasses:
    @pytest.mark.parametrize(
        "condition",
        ["DELTA_MISSING_DELTA_TABLE", "TABLE_OR_VIEW_NOT_FOUND", "PATH_NOT_FOUND"],
    )
    def test_missing_table(self, condition: str) -> None:
        """Every 'no table there' error class maps to TableNotFoundError."""
        error = classify(FakeSparkError("gone", condition), operation="restore", table="/t")

        assert isinstance(error, TableNotFoundError)
        assert (error.operation, error.table) == ("restore", "/t")

    def test_unresolved_column_names_the_argument(self) -> None:
        """An unresolved name is attributed to the argument whose expression holds it."""
        exc = FakeSparkError(
            "unresolved",
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
            {"objectName": "`nope`", "proposal": "`id`, `v`"},
            "42703",
        )

        error = classify(
            exc,
            operation="overwrite_partitions",
            table="t",
            expressions={"replace_where": "nope = 1", "delete_when": "s.v = 'x'"},
        )

        assert isinstance(error, UnresolvedColumnError)
        assert (error.column, error.argument, error.expression) == (
            "`nope`",
            "replace_where",
            "nope = 1",
        )
        assert error.suggestions == ("`id`", "`v`")
        assert error.error_class == "UNRESOLVED_COLUMN.WITH_SUGGESTION"

    def test_merge_unresolved_behind_pyspark_message_failure(self) -> None:
        """When PySpark fails to render Delta's error, the original in __context__ is read."""
        original = Py4JJavaError(
            "An error occurred while calling o255.execute.\n"
            ": org.apache.spark.sql.delta.DeltaAnalysisException: "
            "[DELTA_MERGE_UNRESOLVED_EXPRESSION] Cannot resolve s.nope in DELETE condition "
            "given columns t.id, s.id.; line 1 pos 0\n\tat org.X(X.scala:1)\n"
        )
        try:
            try:
                raise original
            except Py4JJavaError:
                raise Py4JJavaError(
                    "An error occurred while calling z:org.apache.spark.SparkThrowableHelper."
                    "getMessage.\n: org.apache.spark.SparkException: [INTERNAL_ERROR] Cannot "
                    "find main error class 'DELTA_MERGE_UNRESOLVED_EXPRESSION' SQLSTATE: XX000"
                ) from None
        except Py4JJavaError as helper_failure:
            helper_failure.__context__ = original
            error = classify_merge(helper_failure, delete_when="s.nope = 1")

        assert isinstance(error, UnresolvedColumnError)
        assert (error.column, error.argument) == ("s.nope", "delete_when")
        assert error.error_class == "DELTA_MERGE_UNRESOLVED_EXPRESSION"

    def test_anything_else_is_left_alone(self) -> None:
        """Errors the writer has no type for are not wrapped (None: re-raise the original)."""
        assert classify_merge(ValueError("boom")) is None
        assert classify_merge(FakeSparkError("x", "DIVIDE_BY_ZERO", sql_state="22012")) is None


class TestConflictsAndMarkers:
    def test_delta_conflict_class(self) -> None:
        """delta-spark's conflict exceptions are named by class."""
        exc = ConcurrentAppendException("Files were added by a concurrent update.")

        assert conflict_name(exc) == "ConcurrentAppendException"

    def test_conflict_by_error_class_without_delta_client(self) -> None:
        """Over Connect without Delta's client the error class tells the conflict."""
        exc = FakeSparkError("conflict", "DELTA_CONCURRENT_DELETE_READ", sql_state="2D521")
        other = FakeSparkError("conflict", "DELTA_SOMETHING_NEW", sql_state="2D521")

        assert conflict_name(exc) == "ConcurrentDeleteReadException"
        assert conflict_name(other) == "DELTA_SOMETHING_NEW"
        assert conflict_name(ValueError("no")) is None

    def test_user_raised_marker_by_parameter_or_text(self) -> None:
        """The writer's own assert_true is recognised by its message parameter, else its text."""
        marker = "delta-safe-writer: row outside replace_where"
        by_parameter = FakeSparkError("x", "USER_RAISED_EXCEPTION", {"errorMessage": marker})
        by_text = Py4JJavaError(f": org.X: [USER_RAISED_EXCEPTION] {marker} SQLSTATE: P0001")

        assert user_raised(by_parameter, marker)
        assert user_raised(by_text, marker)
        assert not user_raised(by_parameter, "another marker")

    def test_causes_inside_a_failed_write_task_are_read(self) -> None:
        """TASK_WRITE_FAILED hides the real failure in the JVM cause chain of its text."""
        marker = "delta-safe-writer: SCD2 change at or before the current valid_from"
        wrapped = (
            "An error occurred while calling o17776.execute.\n"
            ": org.apache.spark.SparkException: [TASK_WRITE_FAILED] Task failed while writing "
            "rows to file:/t. SQLSTATE: 58030\n\tat org.X(X.scala:843)\n"
            "Caused by: org.apache.spark.SparkRuntimeException: [USER_RAISED_EXCEPTION] "
            f"{marker} SQLSTATE: P0001\n\tat org.Y(Y.scala:1)\n\t... 12 more\n"
            "Caused by: org.apache.spark.sql.delta.schema.DeltaInvariantViolationException: "
            "[DELTA_VIOLATE_CONSTRAINT_WITH_VALUES] CHECK constraint positive (n > 0) violated "
            "by row with values:\n - n : -5\n\tat org.Z(Z.scala:1)\n"
        )

        assert user_raised(Py4JJavaError(wrapped), marker)
        error = classify_merge(Py4JJavaError(wrapped))
        assert isinstance(error, ConstraintViolationError)
        assert error.values == {"n": "-5"}

    def test_causes_in_a_spark_connect_server_trace_are_read(self) -> None:
        """Over Connect the causes come in the server's stack trace, not the exception text."""
        marker = "delta-safe-writer: SCD2 change at or before the current valid_from"

        class ConnectError(FakeSparkError):
            def getStackTrace(self) -> str:  # noqa: N802 - PySpark's name
                return (
                    "org.apache.spark.SparkException\n\tat org.X(X.scala:843)\n"
                    "Caused by: org.apache.spark.SparkRuntimeException: [USER_RAISED_EXCEPTION] "
                    f"{marker} SQLSTATE: P0001\n\tat org.Y(Y.scala:1)"
                )

        wrapped = ConnectError(
            "[TASK_WRITE_FAILED] Task failed while writing rows to file:/t. SQLSTATE: 58030",
            "TASK_WRITE_FAILED",
            sql_state="58030",
        )

        assert user_raised(wrapped, marker)
        assert not user_raised(wrapped, "delta-safe-writer: another marker")
