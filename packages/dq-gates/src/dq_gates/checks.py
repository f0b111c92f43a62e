"""Extra checks that pandera lacks but dq-gates can compile into its single pass.

Each function returns an ordinary ``pandera.pyspark.Check``, so a schema using them still
validates with pandera alone (pandera runs the same Spark predicate with its own backend). The
check carries its predicate in ``check.statistics["predicate"]``; dq-gates recognises it and
evaluates it inside the one aggregation like a built-in check.

Example:
    >>> import pandera.pyspark as pa
    >>> from dq_gates.checks import not_in_future
    >>> column = pa.Column(st.TimestampType(), not_in_future(), nullable=True)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

if TYPE_CHECKING:
    from pyspark.sql import Column

__all__ = ["SparkPredicate", "not_in_future", "spark_check"]


class SparkPredicate:
    """A named function from a column to a boolean Spark expression that valid values satisfy.

    Args:
        name: Name of the check (also the check name in results, e.g. ``order_ts.not_in_future``).
        build: Takes the checked column (and, with ``needs_now``, a timestamp column holding
            "now") and returns the predicate. A null predicate counts as passed, like pandera's
            built-in checks on Spark.
        needs_now: Pass "now" as the second argument of ``build``.
    """

    def __init__(
        self,
        name: str,
        build: Callable[..., Column],
        *,
        needs_now: bool = False,
    ) -> None:
        self.name = name
        self.build = build
        self.needs_now = needs_now

    def __call__(self, column: Column, now: Column | None = None) -> Column:
        """Return the predicate for ``column``.

        Args:
            column: The checked column.
            now: The instant "now" means, for predicates built with ``needs_now``; a gate passes
                its run's start time so every query of one run agrees, pandera's own backend
                gets ``current_timestamp()``.
        """
        if not self.needs_now:
            return self.build(column)
        if now is None:
            now = sf.current_timestamp()
        return self.build(column, now)

    def __repr__(self) -> str:
        return f"SparkPredicate({self.name!r})"


def _run_predicate(data: Any, *, predicate: SparkPredicate) -> bool:
    """Evaluate ``predicate`` the way pandera's PySpark built-ins do (first failing row wins)."""
    cond = predicate(sf.col(data.column_name))
    return bool(data.dataframe.filter(~cond).limit(1).count() == 0)


def spark_check(name: str, build: Callable[[Column], Column], *, error: str | None = None) -> Any:
    """Build a pandera check from a Spark predicate, compiled by dq-gates into its single pass.

    Args:
        name: Check name, shown in results and usable in ``actions`` / ``thresholds`` keys.
        build: Function from the checked column to a boolean ``Column`` that valid values
            satisfy; a null result passes.
        error: Message pandera shows when it evaluates the check itself; defaults to ``name``.

    Returns:
        A ``pandera.pyspark.Check``.

    Example:
        >>> even = spark_check("even", lambda c: c % 2 == 0)  # doctest: +SKIP
    """
    import pandera.pyspark as pa

    return pa.Check(
        _run_predicate,
        name=name,
        error=error or name,
        predicate=SparkPredicate(name, build),
    )


def not_in_future() -> Any:
    """Check that a date or timestamp is not later than the time the query runs.

    Compiles to ``column <= now`` where a gate's "now" is the start time of its run (a literal,
    so the counting query and the later valid / quarantine queries agree); under pandera's own
    validation it is ``current_timestamp()``. Nulls pass.

    Returns:
        A ``pandera.pyspark.Check`` named ``not_in_future``.
    """
    import pandera.pyspark as pa

    return pa.Check(
        _run_predicate,
        name="not_in_future",
        error="not_in_future",
        predicate=SparkPredicate("not_in_future", lambda c, now: c <= now, needs_now=True),
    )
