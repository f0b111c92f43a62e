from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import etl_metrics
from etl_metrics import EtlMetrics, write_textfile


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of a .prom file keyed by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }


class TestWriteTextfile:
    def test_writes_the_registry_and_creates_the_folder(
        self, metrics: EtlMetrics, tmp_path: Path
    ) -> None:
        """The file holds the registry's samples, in a folder created on demand."""
        metrics.record_delta_table_metrics("orders", size_bytes=123, files=2)
        target = tmp_path / "textfile" / "nested" / "etl.prom"
        written = write_textfile(target, metrics.registry)
        assert written == target
        got = samples(target)
        assert got[("delta_table_size_bytes", (("table", "orders"),))] == 123
        assert got[("delta_table_files", (("table", "orders"),))] == 2

    def test_replaces_atomically_without_leftovers(
        self, metrics: EtlMetrics, tmp_path: Path
    ) -> None:
        """A rewrite replaces the file (new inode via rename) and leaves no temporary file."""
        target = tmp_path / "etl.prom"
        metrics.record_schema_drift("t", "column_added")
        write_textfile(target, metrics.registry)
        first_inode = os.stat(target).st_ino
        metrics.record_schema_drift("t", "column_added")
        write_textfile(str(target), metrics.registry)
        assert os.stat(target).st_ino != first_inode
        assert [p.name for p in tmp_path.iterdir()] == ["etl.prom"]
        key = ("etl_schema_drift_detected_total", (("kind", "column_added"), ("table", "t")))
        assert samples(target)[key] == 2

    def test_requires_prom_suffix(self, tmp_path: Path) -> None:
        """Node-exporter only reads *.prom, so other names are refused with a fix."""
        with pytest.raises(ValueError, match=r"only reads files ending in \.prom.*etl\.prom"):
            write_textfile(tmp_path / "etl.txt", CollectorRegistry())
        assert list(tmp_path.iterdir()) == []

    def test_default_registry(self, tmp_path: Path) -> None:
        """Without a registry the library's default registry is written."""
        etl_metrics.record_records_failed("textfile-job", "s", "t", 4)
        target = write_textfile(tmp_path / "default.prom")
        key = (
            "etl_records_failed_total",
            (("job", "textfile-job"), ("stage", "s"), ("table", "t")),
        )
        assert samples(target)[key] >= 4
