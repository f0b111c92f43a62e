"""Input is read exactly: nothing is split, rounded or replaced silently, every record counted.

The reader tests call :func:`etl_app._input.read_input` on tiny files; the end-to-end test runs
the pipeline on files holding each defect and follows every record to its table.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from etl_app import load_config
from etl_app._input import REASON_ENCODING, read_input
from etl_app._pipeline import run_pipeline

pytestmark = pytest.mark.spark

CSV_HEADER = b"customer_id,name,email,country,segment,updated_at\n"


def write(path: Path, data: bytes) -> str:
    """Write raw bytes (so invalid UTF-8 can be written) and return the path."""
    path.write_bytes(data)
    return str(path)


class TestCsvReader:
    """CSV keeps quoted newlines and quotes; malformed and non-UTF-8 records are set aside."""

    def test_quoted_newline_is_one_record(self, spark: Any, tmp_path: Path) -> None:
        """A name with a newline inside quotes stays one record with the newline in it."""
        data = CSV_HEADER + b'1,"Ann\nSmith",a@x.io,GB,retail,2024-01-01T00:00:00\n'
        data += b'2,"Q ""quoted""",q@x.io,GB,retail,2024-01-01T00:00:00\n'
        read = read_input(spark, write(tmp_path / "c.csv", data), "csv")
        try:
            rows = {r["customer_id"]: r["name"] for r in read.rows.collect()}
            assert rows == {"1": "Ann\nSmith", "2": 'Q "quoted"'}
            assert (read.records, read.unreadable_count) == (2, 0)
        finally:
            read.release()

    def test_wrong_field_count_is_unreadable_with_raw_text(
        self, spark: Any, tmp_path: Path
    ) -> None:
        """A record with an extra field keeps its raw text and a reason, and is counted."""
        data = CSV_HEADER + b"1,Ann,a@x.io,GB,retail,2024-01-01T00:00:00\n"
        data += b"2,Bob,b@x.io,GB,retail,2024-01-01T00:00:00,surprise\n"
        read = read_input(spark, write(tmp_path / "c.csv", data), "csv")
        try:
            bad = [r.asDict() for r in read.unreadable.collect()]
            assert [r["raw_record"] for r in bad] == [
                "2,Bob,b@x.io,GB,retail,2024-01-01T00:00:00,surprise"
            ]
            assert "malformed CSV record" in bad[0]["reason"]
            assert [r["customer_id"] for r in read.rows.collect()] == ["1"]
            assert (read.records, read.unreadable_count) == (2, 1)
        finally:
            read.release()

    def test_non_utf8_bytes_are_unreadable_not_replaced(self, spark: Any, tmp_path: Path) -> None:
        """A Latin-1 byte is not silently turned into U+FFFD in bronze: the record is set aside."""
        data = CSV_HEADER + b"1,Caf\xe9,c@x.io,FR,retail,2024-01-01T00:00:00\n"
        data += b"2,Cafe,d@x.io,FR,retail,2024-01-01T00:00:00\n"
        read = read_input(spark, write(tmp_path / "c.csv", data), "csv")
        try:
            assert [r["customer_id"] for r in read.rows.collect()] == ["2"]
            bad = read.unreadable.collect()
            assert [r["reason"] for r in bad] == [REASON_ENCODING]
            assert "Caf\ufffd" in bad[0]["raw_record"]
        finally:
            read.release()


class TestJsonReader:
    """JSON lines keep every number's digits; a malformed line keeps its raw text."""

    def test_numbers_keep_their_value(self, spark: Any, tmp_path: Path) -> None:
        """10.005 keeps all its decimals, 10.50 its value (no float rounding on the way in)."""
        data = b'{"order_id": 1, "amount": 10.005}\n{"order_id": 2, "amount": 10.50}\n'
        read = read_input(spark, write(tmp_path / "o.json", data), "json")
        try:
            amounts = sorted(Decimal(r["amount"]) for r in read.rows.collect())
            assert amounts == [Decimal("10.005"), Decimal("10.50")]
            assert "10.005" in {r["amount"] for r in read.rows.collect()}
            assert (read.records, read.lines) == (2, 2)
        finally:
            read.release()

    def test_malformed_line_is_unreadable_with_raw_text(self, spark: Any, tmp_path: Path) -> None:
        """A truncated and a non-UTF-8 line are set aside with their text; blanks are no records."""
        data = b'{"order_id": 1, "amount": "1"}\n{"order_id": 2, "amount": 10.50\n\n'
        data += b'{"order_id": 3, "s": "ok\xff"}\n'
        read = read_input(spark, write(tmp_path / "o.json", data), "json")
        try:
            bad = sorted((r["raw_record"], r["reason"]) for r in read.unreadable.collect())
            assert bad[0] == ('{"order_id": 2, "amount": 10.50', "malformed JSON line")
            assert bad[1][1] == REASON_ENCODING
            assert [r["order_id"] for r in read.rows.collect()] == ["1"]
            assert (read.records, read.unreadable_count, read.lines) == (3, 2, 3)
        finally:
            read.release()


@pytest.fixture(scope="module")
def run(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One pipeline run on a customers CSV and an orders JSON file with every defect."""
    base = tmp_path_factory.mktemp("exact")
    inputs, root = base / "in", base / "out"
    inputs.mkdir()
    customers = CSV_HEADER
    customers += b'1,"Ada\nLovelace",ada@example.com,GB,retail,2024-01-01T00:00:00\n'
    customers += b"2,Alan Turing,alan@example.com,GB,enterprise,2024-01-01T00:00:00\n"
    customers += b"3,Ren\xe9,rene@example.com,FR,smb,2024-01-01T00:00:00\n"
    (inputs / "customers_0001.csv").write_bytes(customers)
    orders = [
        '{"order_id": "1", "customer_id": "1", "order_ts": "2024-01-01T10:00:00", '
        '"amount": "100.00", "status": "completed", "country": "GB"}',
        '{"order_id": "2", "customer_id": "2", "order_ts": "2024-01-01T11:00:00", '
        '"amount": 10.005, "status": "completed", "country": "GB"}',
        '{"order_id": "3", "customer_id": "2", "order_ts": "0001-01-01T00:00:00", '
        '"amount": "5.00", "status": "completed", "country": "GB"}',
        '{"order_id": "4", "customer_id": "1", "order_ts": "2024-01-02T09:00:00", '
        '"amount": "20.50", "status": "shipped"',
        '{"order_id": "5", "customer_id": "1", "order_ts": "1850-06-01T00:00:00", '
        '"amount": "7.00", "status": "completed", "country": "GB"}',
        # Three more good (pending) orders: the gate fails a batch with over 50% bad rows.
        *(
            f'{{"order_id": "{i}", "customer_id": "2", "order_ts": "2024-01-01T12:00:00", '
            '"amount": "1.00", "status": "pending", "country": "GB"}'
            for i in (6, 7, 8)
        ),
    ]
    (inputs / "orders_0001.json").write_text("\n".join(orders) + "\n")
    config = base / "etl.yaml"
    config.write_text(f"input: {{dir: {inputs}}}\noutput: {{root: {root}}}\n")
    report = run_pipeline(load_config(config), spark=spark)

    def rows(table: str) -> list[dict[str, Any]]:
        path = root / table
        if not (path / "_delta_log").is_dir():
            return []
        return [r.asDict() for r in spark.read.format("delta").load(str(path)).collect()]

    return {
        "report": report,
        "json": json.loads(Path(report.report_path).read_text()),
        "rows": rows,
    }


class TestEndToEnd:
    """Every record of a defective file is found again: silver, quarantine or unreadable."""

    def test_run_succeeds_and_gold_is_built(self, run: dict[str, Any]) -> None:
        """The year-0001 and 1850 orders are stopped at the gate, so gold builds."""
        assert run["report"].status == "success"
        revenue = run["rows"]("gold/daily_revenue")
        assert [(str(r["order_date"]), r["revenue"]) for r in revenue] == [
            ("2024-01-01", Decimal("100.00"))
        ]

    def test_implausible_timestamps_are_quarantined(self, run: dict[str, Any]) -> None:
        """Year 1850 fails the gate's range (order_ts.in_range); year 0001 is no timestamp."""
        quarantined = {
            r["order_id"]: sorted(r["_dq_failed_checks"]) for r in run["rows"]("quarantine/orders")
        }
        assert quarantined[5] == ["order_ts.in_range"]
        assert quarantined[3] == ["order_ts.not_null"]

    def test_more_decimals_than_the_column_is_quarantined_not_rounded(
        self, run: dict[str, Any]
    ) -> None:
        """10.005 is not stored as 10.01: order 2 is quarantined with its raw amount."""
        quarantined = {r["order_id"]: r for r in run["rows"]("quarantine/orders")}
        assert quarantined[2]["amount_raw"] == "10.005"
        assert quarantined[2]["_dq_failed_checks"] == ["amount_raw.str_matches"]
        assert 2 not in {r["order_id"] for r in run["rows"]("silver/orders")}

    def test_unreadable_records_keep_raw_text_and_reason(self, run: dict[str, Any]) -> None:
        """The truncated JSON line and the non-UTF-8 customer are in their unreadable tables."""
        orders = run["rows"]("quarantine/orders_unreadable")
        assert [(r["reason"], r["batch_id"]) for r in orders] == [("malformed JSON line", 1)]
        assert orders[0]["raw_record"].startswith('{"order_id": "4"')
        customers = run["rows"]("quarantine/customers_unreadable")
        assert [r["reason"] for r in customers] == [REASON_ENCODING]
        assert "Ren\ufffd" in customers[0]["raw_record"]

    def test_quoted_newline_survives_to_silver(self, run: dict[str, Any]) -> None:
        """Customer 1's two-line name is one row in silver, newline included."""
        names = {r["customer_id"]: r["name"] for r in run["rows"]("silver/customers")}
        assert names == {1: "Ada\nLovelace", 2: "Alan Turing"}

    def test_reconciliation_starts_from_the_file(self, run: dict[str, Any]) -> None:
        """The report counts the file's records: records = bronze + unreadable, per file."""
        inputs = {Path(i["file"]).name: i for i in run["json"]["inputs"]}
        orders, customers = inputs["orders_0001.json"], inputs["customers_0001.csv"]
        assert (orders["records"], orders["lines"], orders["bronze"], orders["unreadable"]) == (
            8,
            8,
            7,
            1,
        )
        assert (customers["records"], customers["bronze"], customers["unreadable"]) == (3, 2, 1)
        assert orders["ok"]
        assert customers["ok"]
        assert "input (records in the file = rows to bronze + unreadable):" in (
            run["report"].summary_table()
        )
