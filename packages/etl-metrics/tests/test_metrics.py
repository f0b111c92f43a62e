from __future__ import annotations

import importlib.util
import math
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import etl_metrics
from etl_metrics import (
    CATALOGUE,
    DEFAULT_REGISTRY,
    DELTA_WRITE_DURATION_BUCKETS,
    DQ_ANOMALY_STATUSES,
    JOB_DURATION_BUCKETS,
    STAGE_DURATION_BUCKETS,
    EtlMetrics,
    EtlMetricsError,
    LabelError,
    UnknownMetricError,
)

EXPECTED = {
    "etl_job_executions_total": ("counter", ("job", "env", "status")),
    "etl_job_duration_seconds": ("histogram", ("job", "env", "status")),
    "etl_job_last_success_timestamp": ("gauge", ("job", "env")),
    "etl_stage_duration_seconds": ("histogram", ("job", "stage", "env")),
    "etl_dq_checks_total": ("counter", ("job", "table", "check", "result")),
    "etl_dq_violations_total": ("counter", ("job", "table", "check", "severity")),
    "etl_dq_anomaly_checks_total": ("counter", ("job", "table", "check", "status")),
    "etl_dq_anomalies_total": ("counter", ("job", "table", "check", "severity")),
    "etl_dq_anomaly_value": ("gauge", ("job", "table", "check")),
    "etl_dq_anomaly_lower_bound": ("gauge", ("job", "table", "check")),
    "etl_dq_anomaly_upper_bound": ("gauge", ("job", "table", "check")),
    "etl_records_processed_total": ("counter", ("job", "stage", "table")),
    "etl_records_failed_total": ("counter", ("job", "stage", "table")),
    "delta_table_size_bytes": ("gauge", ("table",)),
    "delta_table_versions": ("gauge", ("table",)),
    "delta_table_files": ("gauge", ("table",)),
    "delta_write_duration_seconds": ("histogram", ("table", "operation")),
    "etl_schema_drift_detected_total": ("counter", ("table", "kind")),
    "etl_memory_usage_bytes": ("gauge", ("job",)),
    "etl_cpu_usage_percent": ("gauge", ("job",)),
    "etl_errors_total": ("counter", ("job", "stage", "error_type")),
}


def exposed_types(registry: CollectorRegistry) -> dict[str, str]:
    """Metric family name (as exposed, counters with _total) -> type, from the text format.

    prometheus_client's ``*_created`` companion gauges are left out.
    """
    text = generate_latest(registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name.endswith("_created"):
            continue
        name = family.name + ("_total" if family.type == "counter" else "")
        out[name] = family.type
    return out


class TestCatalogue:
    def test_catalogue_matches_the_issue(self) -> None:
        """The catalogue holds exactly the names, types and labels the alert rules rely on."""
        got = {spec.name: (spec.kind, spec.labels) for spec in CATALOGUE}
        assert got == EXPECTED

    def test_every_metric_is_exposed_with_its_type(self, metrics: EtlMetrics) -> None:
        """Each catalogue metric is registered and exposed (once a label set exists)."""
        for spec in CATALOGUE:
            metrics.metric(spec.name).labels(*("x" for _ in spec.labels))
        assert exposed_types(metrics.registry) == {
            name: kind for name, (kind, _) in EXPECTED.items()
        }

    def test_naming_conventions(self) -> None:
        """Counters end in _total; histograms of time end in _seconds; sizes in _bytes."""
        for spec in CATALOGUE:
            if spec.kind == "counter":
                assert spec.name.endswith("_total"), spec.name
            if spec.kind == "histogram":
                assert spec.name.endswith("_seconds"), spec.name
            if spec.unit == "bytes":
                assert spec.name.endswith("_bytes"), spec.name

    def test_histogram_buckets_are_the_documented_ones(self, metrics: EtlMetrics) -> None:
        """Each histogram exposes its documented buckets plus +Inf."""
        metrics.track_job_execution("j", "prod")
        metrics.track_stage_duration("j", "load", "prod")
        metrics.record_delta_table_metrics("t", operation="merge", write_duration_seconds=1.0)
        text = generate_latest(metrics.registry).decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        for name, buckets in [
            ("etl_job_duration_seconds", JOB_DURATION_BUCKETS),
            ("etl_stage_duration_seconds", STAGE_DURATION_BUCKETS),
            ("delta_write_duration_seconds", DELTA_WRITE_DURATION_BUCKETS),
        ]:
            bounds = sorted(
                {float(s.labels["le"]) for s in families[name].samples if "le" in s.labels}
            )
            assert bounds == [*buckets, float("inf")]
        assert JOB_DURATION_BUCKETS[0] == 1.0
        assert JOB_DURATION_BUCKETS[-1] == 86400.0


class TestDocumentation:
    def test_readme_table_matches_the_catalogue(self) -> None:
        """The README's metric table lists exactly the catalogue's names, types and labels."""
        readme = Path(__file__).parents[1] / "README.md"
        rows = {}
        for line in readme.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if (
                len(cells) == 5
                and cells[0].startswith("`")
                and cells[1]
                in {
                    "counter",
                    "gauge",
                    "histogram",
                }
            ):
                labels = tuple(label.strip() for label in cells[2].split(","))
                rows[cells[0].strip("`")] = (cells[1], labels)
        assert rows == EXPECTED


class TestRegistryOwnership:
    def test_default_helpers_record_into_the_library_registry(self) -> None:
        """Module-level helpers write to DEFAULT_REGISTRY, not prometheus_client's global one."""
        labels = {"job": "own-registry", "stage": "s", "table": "t"}
        before = DEFAULT_REGISTRY.get_sample_value("etl_records_processed_total", labels) or 0
        etl_metrics.record_records_processed("own-registry", "s", "t", 5)
        assert DEFAULT_REGISTRY.get_sample_value("etl_records_processed_total", labels) == (
            before + 5
        )
        assert REGISTRY.get_sample_value("etl_records_processed_total", labels) is None

    def test_second_instance_on_same_registry_shares_the_metrics(self) -> None:
        """Two EtlMetrics on one registry do not clash and record into the same series."""
        registry = CollectorRegistry()
        first = EtlMetrics(registry)
        second = EtlMetrics(registry)
        first.record_error("j", "load", "IOError")
        second.record_error("j", "load", "IOError")
        value = registry.get_sample_value(
            "etl_errors_total", {"job": "j", "stage": "load", "error_type": "IOError"}
        )
        assert value == 2.0

    def test_second_instance_with_other_limits_is_refused(self) -> None:
        """Reusing a registry with different label-set limits fails with a clear message."""
        registry = CollectorRegistry()
        EtlMetrics(registry, max_label_sets=10)
        with pytest.raises(EtlMetricsError, match="other label-set limits"):
            EtlMetrics(registry, max_label_sets=20)

    def test_executing_the_metrics_module_twice_does_not_raise(self) -> None:
        """A second copy of the module (imported under another name) registers without clashes.

        The copy makes its own default registry, and an instance of the copy's class on the
        first copy's registry reuses the collectors already there.
        """
        source = Path(etl_metrics.__file__).parent / "_metrics.py"
        spec = importlib.util.spec_from_file_location("etl_metrics_metrics_again", source)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
            assert module.DEFAULT_REGISTRY is not DEFAULT_REGISTRY
            again = module.EtlMetrics(DEFAULT_REGISTRY)
            labels = {"job": "twice", "stage": "s", "error_type": "E"}
            before = DEFAULT_REGISTRY.get_sample_value("etl_errors_total", labels) or 0
            again.record_error("twice", "s", "E")
            assert DEFAULT_REGISTRY.get_sample_value("etl_errors_total", labels) == before + 1
        finally:
            del sys.modules[spec.name]

    def test_fresh_instance_gets_a_fresh_registry(self) -> None:
        """EtlMetrics() without a registry records into a new registry of its own."""
        one, two = EtlMetrics(), EtlMetrics()
        assert one.registry is not two.registry
        one.record_schema_drift("t", "extra_column")
        labels = {"table": "t", "kind": "extra_column"}
        assert one.registry.get_sample_value("etl_schema_drift_detected_total", labels) == 1
        assert two.registry.get_sample_value("etl_schema_drift_detected_total", labels) is None


class TestRecordHelpers:
    def test_dq_check_pass_and_fail_with_violations(self, metrics: EtlMetrics) -> None:
        """Checks count by result; violations add the record count under the severity."""
        metrics.record_dq_check("j", "orders", "not_null_id", passed=True)
        metrics.record_dq_check("j", "orders", "not_null_id", passed=True)
        metrics.record_dq_check(
            "j", "orders", "not_null_id", passed=False, violations=7, severity="critical"
        )
        get = metrics.registry.get_sample_value
        base = {"job": "j", "table": "orders", "check": "not_null_id"}
        assert get("etl_dq_checks_total", {**base, "result": "pass"}) == 2
        assert get("etl_dq_checks_total", {**base, "result": "fail"}) == 1
        assert get("etl_dq_violations_total", {**base, "severity": "critical"}) == 7
        assert get("etl_dq_violations_total", {**base, "severity": "error"}) is None

    def test_dq_check_rejects_negative_violations(self, metrics: EtlMetrics) -> None:
        """A negative violation count is an error naming the check."""
        with pytest.raises(ValueError, match=r"not_null_id.*violations must be >= 0"):
            metrics.record_dq_check("j", "t", "not_null_id", passed=False, violations=-1)

    def test_records_processed_and_failed(self, metrics: EtlMetrics) -> None:
        """Processed and failed record counts accumulate per job, stage and table."""
        metrics.record_records_processed("j", "silver", "orders", 1000)
        metrics.record_records_processed("j", "silver", "orders", 24)
        metrics.record_records_failed("j", "silver", "orders", 1)
        metrics.record_records_failed("j", "silver", "orders", 2)
        labels = {"job": "j", "stage": "silver", "table": "orders"}
        get = metrics.registry.get_sample_value
        assert get("etl_records_processed_total", labels) == 1024
        assert get("etl_records_failed_total", labels) == 3

    def test_negative_counts_are_refused(self, metrics: EtlMetrics) -> None:
        """Counters cannot go down: a negative count raises."""
        with pytest.raises(ValueError, match="non-negative"):
            metrics.record_records_processed("j", "s", "t", -1)

    def test_delta_table_metrics(self, metrics: EtlMetrics) -> None:
        """Gauges hold the last value given; the write duration lands in its bucket."""
        metrics.record_delta_table_metrics("silver.orders", size_bytes=2048, versions=3, files=4)
        metrics.record_delta_table_metrics("silver.orders", files=5)
        metrics.record_delta_table_metrics(
            "silver.orders", operation="merge", write_duration_seconds=0.3
        )
        get = metrics.registry.get_sample_value
        table = {"table": "silver.orders"}
        assert get("delta_table_size_bytes", table) == 2048
        assert get("delta_table_versions", table) == 3
        assert get("delta_table_files", table) == 5
        write = {"table": "silver.orders", "operation": "merge"}
        assert get("delta_write_duration_seconds_count", write) == 1
        assert get("delta_write_duration_seconds_sum", write) == pytest.approx(0.3)
        assert get("delta_write_duration_seconds_bucket", {**write, "le": "0.25"}) == 0
        assert get("delta_write_duration_seconds_bucket", {**write, "le": "0.5"}) == 1

    def test_delta_write_duration_needs_operation(self, metrics: EtlMetrics) -> None:
        """A write duration without its operation label is refused."""
        with pytest.raises(LabelError, match="needs operation="):
            metrics.record_delta_table_metrics("t", write_duration_seconds=1.0)

    def test_schema_drift(self, metrics: EtlMetrics) -> None:
        """Drift detections count by table and kind, by 1 or by a given count."""
        metrics.record_schema_drift("orders", "extra_column")
        metrics.record_schema_drift("orders", "extra_column", 2)
        labels = {"table": "orders", "kind": "extra_column"}
        assert metrics.registry.get_sample_value("etl_schema_drift_detected_total", labels) == 3

    def test_error_from_exception_or_name(self, metrics: EtlMetrics) -> None:
        """An exception is recorded under its class name; a string is used as given."""
        metrics.record_error("j", "load", KeyError("x"))
        metrics.record_error("j", "load", "KeyError")
        metrics.record_error("j", "load", "Timeout")
        get = metrics.registry.get_sample_value
        base = {"job": "j", "stage": "load"}
        assert get("etl_errors_total", {**base, "error_type": "KeyError"}) == 2
        assert get("etl_errors_total", {**base, "error_type": "Timeout"}) == 1


ANOMALY_KEY = {"job": "j", "table": "silver.orders", "check": "row_count"}
ANOMALY_GAUGES = (
    "etl_dq_anomaly_value",
    "etl_dq_anomaly_lower_bound",
    "etl_dq_anomaly_upper_bound",
)


class TestRecordDqAnomaly:
    def test_anomaly_counts_and_sets_value_and_range(self, metrics: EtlMetrics) -> None:
        """An anomaly adds 1 under its severity, counts the evaluation and sets value and range."""
        metrics.record_dq_anomaly(
            "j",
            "silver.orders",
            "row_count",
            status="anomaly",
            severity="warn",
            value=50.0,
            lower=900.0,
            upper=1100.0,
        )
        get = metrics.registry.get_sample_value
        assert get("etl_dq_anomalies_total", {**ANOMALY_KEY, "severity": "warn"}) == 1
        assert get("etl_dq_anomaly_checks_total", {**ANOMALY_KEY, "status": "anomaly"}) == 1
        assert get("etl_dq_anomaly_value", ANOMALY_KEY) == 50.0
        assert get("etl_dq_anomaly_lower_bound", ANOMALY_KEY) == 900.0
        assert get("etl_dq_anomaly_upper_bound", ANOMALY_KEY) == 1100.0

    @pytest.mark.parametrize("status", ["ok", "insufficient_history", "no_value"])
    def test_no_anomaly_still_creates_the_zero_series(
        self, metrics: EtlMetrics, status: str
    ) -> None:
        """A batch without anomaly records 0 under its severity, so a push clears an old 1."""
        metrics.record_dq_anomaly("j", "silver.orders", "row_count", status=status, severity="fail")
        get = metrics.registry.get_sample_value
        assert get("etl_dq_anomalies_total", {**ANOMALY_KEY, "severity": "fail"}) == 0
        assert get("etl_dq_anomaly_checks_total", {**ANOMALY_KEY, "status": status}) == 1
        for gauge in ANOMALY_GAUGES:
            value = get(gauge, ANOMALY_KEY)
            assert value is not None
            assert math.isnan(value), gauge

    def test_later_value_replaces_the_earlier_one(self, metrics: EtlMetrics) -> None:
        """The gauges hold the latest evaluation; an unknown bound goes back to NaN."""
        metrics.record_dq_anomaly(
            "j", "silver.orders", "row_count", status="ok", severity="warn", value=1, lower=0
        )
        metrics.record_dq_anomaly(
            "j", "silver.orders", "row_count", status="ok", severity="warn", value=2, upper=5
        )
        get = metrics.registry.get_sample_value
        assert get("etl_dq_anomaly_value", ANOMALY_KEY) == 2
        lower = get("etl_dq_anomaly_lower_bound", ANOMALY_KEY)
        assert lower is not None
        assert math.isnan(lower)
        assert get("etl_dq_anomaly_upper_bound", ANOMALY_KEY) == 5

    def test_unknown_status_is_refused_and_records_nothing(self, metrics: EtlMetrics) -> None:
        """A status outside the vocabulary is an error listing it; no series is created."""
        with pytest.raises(LabelError, match=r"status must be one of ok, anomaly.*'anomalous'"):
            metrics.record_dq_anomaly(
                "j", "silver.orders", "row_count", status="anomalous", severity="warn"
            )
        names = {
            family.name
            for family in metrics.registry.collect()
            if family.name.startswith("etl_dq_anomal") and family.samples
        }
        assert names == set()

    def test_invalid_label_changes_no_value(self, metrics: EtlMetrics) -> None:
        """An empty severity is refused before the evaluation is counted."""
        with pytest.raises(LabelError, match="label 'severity' is empty"):
            metrics.record_dq_anomaly("j", "silver.orders", "row_count", status="ok", severity="")
        evaluations = {"job": "j", "table": "silver.orders", "check": "row_count", "status": "ok"}
        assert metrics.registry.get_sample_value("etl_dq_anomaly_checks_total", evaluations) in (
            None,
            0,
        )

    def test_module_level_helper_records_into_the_default_registry(self) -> None:
        """etl_metrics.record_dq_anomaly is the default instance's method."""
        labels = {"job": "anomaly-default", "table": "t", "check": "c", "severity": "warn"}
        before = DEFAULT_REGISTRY.get_sample_value("etl_dq_anomalies_total", labels) or 0
        etl_metrics.record_dq_anomaly(
            "anomaly-default", "t", "c", status="anomaly", severity="warn", value=3.0
        )
        after = DEFAULT_REGISTRY.get_sample_value("etl_dq_anomalies_total", labels)
        assert after == before + 1

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(DQ_ANOMALY_STATUSES),
                st.sampled_from(["warn", "fail"]),
                st.floats(allow_nan=False, allow_infinity=False, width=32),
            ),
            max_size=20,
        )
    )
    def test_counts_equal_a_naive_tally(self, calls: list[tuple[str, str, float]]) -> None:
        """After any sequence of evaluations the counters equal a plain count of the calls."""
        metrics = EtlMetrics(CollectorRegistry())
        for status, severity, value in calls:
            metrics.record_dq_anomaly("j", "t", "c", status=status, severity=severity, value=value)
        key = {"job": "j", "table": "t", "check": "c"}
        get = metrics.registry.get_sample_value
        statuses = Counter(status for status, _, _ in calls)
        for status in DQ_ANOMALY_STATUSES:
            expected = statuses[status] or None
            assert get("etl_dq_anomaly_checks_total", {**key, "status": status}) == expected
        for severity in ("warn", "fail"):
            seen = [status for status, sev, _ in calls if sev == severity]
            expected_anomalies = sum(status == "anomaly" for status in seen) if seen else None
            got = get("etl_dq_anomalies_total", {**key, "severity": severity})
            assert got == expected_anomalies
        if calls:
            assert get("etl_dq_anomaly_value", key) == calls[-1][2]


class TestMetricHandle:
    def test_labels_by_name_or_position(self, metrics: EtlMetrics) -> None:
        """The handle returns the same child for names and positions, and counts label sets."""
        handle = metrics.metric("etl_records_processed_total")
        handle.labels(job="j", stage="s", table="t").inc(2)
        handle.labels("j", "s", "t").inc(3)
        assert handle.name == "etl_records_processed_total"
        assert handle.labelnames == ("job", "stage", "table")
        assert handle.label_set_count == 1
        assert handle.limit == 1000
        labels = {"job": "j", "stage": "s", "table": "t"}
        assert metrics.registry.get_sample_value("etl_records_processed_total", labels) == 5

    def test_unknown_metric(self, metrics: EtlMetrics) -> None:
        """Asking for a metric the library lacks lists the known ones."""
        with pytest.raises(UnknownMetricError, match=r"no metric 'etl_rows_total'.*etl_errors"):
            metrics.metric("etl_rows_total")

    def test_mixing_positional_and_named_labels(self, metrics: EtlMetrics) -> None:
        """Positional and named label values together are refused."""
        with pytest.raises(LabelError, match="not both"):
            metrics.metric("etl_errors_total").labels("j", stage="s", error_type="E")
