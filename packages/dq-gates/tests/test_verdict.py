"""The verdict unit on its own: results, limits and the verdict from counts (no Spark job)."""

from __future__ import annotations

import pytest

from dq_gates import Action, Threshold, Verdict
from dq_gates._compile import CheckKind, CheckSpec
from dq_gates._count import Counts
from dq_gates._result import AnomalyResult
from dq_gates._verdict import check_result, decide


def spec(check: str = "ge", column: str | None = "a", builtin: str = "greater_than") -> CheckSpec:
    """A row-level check spec."""
    return CheckSpec(column, check, CheckKind.ROW, builtin)


def anomaly(status: str, action: Action) -> AnomalyResult:
    """An anomaly result with the given status and action."""
    return AnomalyResult(
        column=None,
        check="row_count",
        metric="row_count",
        strategy="relative_change(max_decrease=0.5)",
        action=action,
        status=status,
        value=1.0,
        baseline=10.0,
        lower=5.0,
        upper=None,
        history_runs=1,
        min_history=1,
        tripped=status == "anomaly" and action is Action.FAIL,
        message="",
    )


class TestCheckResult:
    @pytest.mark.parametrize(
        ("failed", "threshold", "tripped"),
        [
            (0, Threshold(max_rows=0), False),
            (1, Threshold(max_rows=0), True),
            (1, Threshold(max_fraction=0.1), False),
            (2, Threshold(max_fraction=0.1), True),
            (5, None, False),
        ],
    )
    def test_trips_only_above_its_threshold(
        self, failed: int, threshold: Threshold | None, tripped: bool
    ) -> None:
        """A counted check trips when its failures exceed its threshold, never without one."""
        result = check_result(
            spec(),
            action=Action.WARN,
            threshold=threshold,
            rows_in=10,
            failed=failed,
            sample=[],
            message=None,
        )
        assert result.tripped is tripped
        assert result.rows_checked == 10

    def test_pandera_evaluated_check_trips_on_a_message_with_fail(self) -> None:
        """Without a count, a pandera error trips a fail check and only a fail check."""
        pandera = CheckSpec("a", "rule", CheckKind.PANDERA, "pandera")
        for action, tripped in ((Action.FAIL, True), (Action.WARN, False)):
            result = check_result(
                pandera,
                action=action,
                threshold=None,
                rows_in=3,
                failed=None,
                sample=[],
                message="boom",
            )
            assert (result.tripped, result.evaluated_by, result.passed) == (
                tripped,
                "pandera",
                False,
            )


class TestDecide:
    def counts(self, rows_any: int = 0) -> Counts:
        """Counts of a ten-row batch."""
        return Counts(rows_in=10, failed={}, rows_any=rows_any)

    def result(self, failed: int, tripped: bool = False) -> object:
        """A warn check result with ``failed`` failing rows."""
        threshold = Threshold(max_rows=0) if tripped else None
        return check_result(
            spec(),
            action=Action.WARN,
            threshold=threshold,
            rows_in=10,
            failed=failed,
            sample=[],
            message=None,
        )

    def test_passed_warned_failed(self) -> None:
        """No failure passes; failures within limits warn; a tripped limit fails."""
        assert decide([self.result(0)], [], None, self.counts()).verdict is Verdict.PASSED
        assert decide([self.result(2)], [], None, self.counts(2)).verdict is Verdict.WARNED
        tripped = self.result(2, tripped=True)
        assert decide([tripped], [], None, self.counts(2)).verdict is Verdict.FAILED

    def test_gate_wide_threshold_counts_rows_failing_any_check(self) -> None:
        """The ``*`` limit trips on rows failing any check, even when every check only warns."""
        outcome = decide([self.result(3)], [], Threshold(max_rows=2), self.counts(3))
        assert (outcome.gate_tripped, outcome.verdict) == (True, Verdict.FAILED)
        outcome = decide([self.result(2)], [], Threshold(max_rows=2), self.counts(2))
        assert (outcome.gate_tripped, outcome.verdict) == (False, Verdict.WARNED)

    def test_anomalies_warn_or_fail_by_their_action(self) -> None:
        """An anomaly with warn warns, with fail fails; an unjudged check changes nothing."""
        ok = [self.result(0)]
        cases = [
            (anomaly("anomaly", Action.WARN), Verdict.WARNED),
            (anomaly("anomaly", Action.FAIL), Verdict.FAILED),
            (anomaly("insufficient_history", Action.FAIL), Verdict.PASSED),
            (anomaly("no_value", Action.FAIL), Verdict.PASSED),
            (anomaly("ok", Action.FAIL), Verdict.PASSED),
        ]
        for result, verdict in cases:
            assert decide(ok, [result], None, self.counts()).verdict is verdict
