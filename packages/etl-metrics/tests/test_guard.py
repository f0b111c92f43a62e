from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from etl_metrics import CardinalityLimitError, EtlMetrics, LabelError, UnknownMetricError


class TestLabelValidation:
    def test_unknown_label_name(self, metrics: EtlMetrics) -> None:
        """A label name the metric lacks is named in the error with the valid names."""
        handle = metrics.metric("etl_records_processed_total")
        with pytest.raises(LabelError, match=r"no label 'tabel'; its labels are job, stage, table"):
            handle.labels(job="j", stage="s", tabel="t")

    def test_missing_label_name(self, metrics: EtlMetrics) -> None:
        """Leaving out a label is refused, naming it."""
        with pytest.raises(LabelError, match=r"needs a value for label 'table'"):
            metrics.metric("etl_records_processed_total").labels(job="j", stage="s")

    def test_wrong_number_of_positional_values(self, metrics: EtlMetrics) -> None:
        """Too few positional values are refused with the expected label names."""
        with pytest.raises(LabelError, match=r"takes 3 label values \(job, stage, table\), got 2"):
            metrics.metric("etl_records_processed_total").labels("j", "s")

    def test_non_string_value(self, metrics: EtlMetrics) -> None:
        """A non-string label value is refused instead of being silently converted."""
        bad: Any = 42
        with pytest.raises(LabelError, match=r"label 'table' must be a string, got int 42"):
            metrics.record_records_processed("j", "s", bad, 1)

    def test_empty_value(self, metrics: EtlMetrics) -> None:
        """An empty label value is refused (Prometheus would treat it as absent)."""
        with pytest.raises(LabelError, match=r"label 'stage' is empty"):
            metrics.record_error("j", "", "E")

    def test_refused_label_set_creates_no_series(self, metrics: EtlMetrics) -> None:
        """After a refusal nothing was added to the registry."""
        with pytest.raises(LabelError):
            metrics.record_schema_drift("", "column_added")
        assert metrics.metric("etl_schema_drift_detected_total").label_set_count == 0
        assert (
            metrics.registry.get_sample_value(
                "etl_schema_drift_detected_total", {"table": "", "kind": "column_added"}
            )
            is None
        )


class TestCardinalityLimit:
    def test_limit_is_enforced_with_a_clear_error(self) -> None:
        """The label set past the limit raises, naming metric, labels and limit."""
        metrics = EtlMetrics(CollectorRegistry(), max_label_sets=3)
        for i in range(3):
            metrics.record_records_processed("j", "s", f"t{i}", 1)
        with pytest.raises(CardinalityLimitError) as caught:
            metrics.record_records_processed("j", "s", "t3", 1)
        error = caught.value
        assert error.metric == "etl_records_processed_total"
        assert error.labels == {"job": "j", "stage": "s", "table": "t3"}
        assert error.limit == 3
        assert "table='t3'" in str(error)
        assert "max_label_sets_per_metric" in str(error)
        # Known label sets keep working at the limit.
        metrics.record_records_processed("j", "s", "t0", 1)
        labels = {"job": "j", "stage": "s", "table": "t0"}
        assert metrics.registry.get_sample_value("etl_records_processed_total", labels) == 2

    def test_limit_is_per_metric(self) -> None:
        """Filling one metric does not affect another."""
        metrics = EtlMetrics(CollectorRegistry(), max_label_sets=1)
        metrics.record_records_processed("j", "s", "t", 1)
        metrics.record_records_failed("j", "s", "t", 1)
        with pytest.raises(CardinalityLimitError):
            metrics.record_records_processed("j", "s", "other", 1)

    def test_per_metric_override(self) -> None:
        """max_label_sets_per_metric raises or lowers one metric's limit."""
        metrics = EtlMetrics(
            CollectorRegistry(),
            max_label_sets=2,
            max_label_sets_per_metric={"etl_errors_total": 5},
        )
        for i in range(5):
            metrics.record_error("j", "s", f"E{i}")
        assert metrics.metric("etl_errors_total").limit == 5
        with pytest.raises(CardinalityLimitError, match="5 distinct label sets"):
            metrics.record_error("j", "s", "E5")

    def test_job_tracker_counts_its_series(self) -> None:
        """The job tracker's label sets count against the limits like any other."""
        metrics = EtlMetrics(CollectorRegistry(), max_label_sets=2)
        metrics.track_job_execution("a", "prod")
        with pytest.raises(CardinalityLimitError, match="etl_job_executions_total"):
            metrics.track_job_execution("b", "prod")

    def test_override_of_unknown_metric(self) -> None:
        """An override for a metric the library lacks is refused."""
        with pytest.raises(UnknownMetricError, match="'etl_rows_total'"):
            EtlMetrics(CollectorRegistry(), max_label_sets_per_metric={"etl_rows_total": 5})

    def test_limit_below_one(self) -> None:
        """A limit of 0 is refused."""
        with pytest.raises(ValueError, match="at least 1, got 0"):
            EtlMetrics(CollectorRegistry(), max_label_sets=0)

    def test_concurrent_first_use_creates_one_child(self, metrics: EtlMetrics) -> None:
        """Threads racing on a new label set all land in the same series."""
        barrier = threading.Barrier(8)

        def work() -> None:
            barrier.wait()
            for _ in range(100):
                metrics.record_records_processed("j", "s", "t", 1)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        labels = {"job": "j", "stage": "s", "table": "t"}
        assert metrics.registry.get_sample_value("etl_records_processed_total", labels) == 800
        assert metrics.metric("etl_records_processed_total").label_set_count == 1

    @settings(max_examples=40, deadline=None)
    @given(
        limit=st.integers(min_value=1, max_value=8),
        tables=st.lists(st.sampled_from([f"t{i}" for i in range(12)]), max_size=30),
    )
    def test_admitted_sets_never_exceed_limit(self, limit: int, tables: list[str]) -> None:
        """Refusals happen exactly for new label sets beyond the limit (naive reference)."""
        metrics = EtlMetrics(CollectorRegistry(), max_label_sets=limit)
        admitted: set[str] = set()
        for table in tables:
            new_beyond_limit = table not in admitted and len(admitted) >= limit
            if new_beyond_limit:
                with pytest.raises(CardinalityLimitError):
                    metrics.record_schema_drift(table, "k")
            else:
                metrics.record_schema_drift(table, "k")
                admitted.add(table)
        assert metrics.metric("etl_schema_drift_detected_total").label_set_count == len(admitted)
        assert len(admitted) == min(len(set(tables)), limit)
