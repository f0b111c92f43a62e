import csv
import json
from pathlib import Path

import pytest

from etl_app._sample import generate_sample


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts."""
    with path.open() as fh:
        return list(csv.DictReader(fh))


def read_json(path: Path) -> list[dict[str, object]]:
    """Rows of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text().splitlines()]


class TestGenerateSample:
    def test_writes_two_batches_in_processing_order(self, tmp_path: Path) -> None:
        """Two customers files and two orders files are written, named in batch order."""
        summary = generate_sample(tmp_path, 500)
        assert summary.files == (
            "customers_0001.csv",
            "orders_0001.json",
            "customers_0002.csv",
            "orders_0002.json",
        )
        assert all((tmp_path / f).exists() for f in summary.files)
        assert summary.customers == 50

    def test_batch1_carries_the_defects_real_sources_have(self, tmp_path: Path) -> None:
        """Null keys, duplicates, bad types, out-of-range amounts and unknown statuses appear."""
        generate_sample(tmp_path, 2_000)
        orders = read_json(tmp_path / "orders_0001.json")
        assert any(o["order_id"] is None for o in orders)
        assert any(o["customer_id"] is None for o in orders)
        assert any(o["amount"] == "n/a" for o in orders)
        assert any(isinstance(o["amount"], float) and o["amount"] < 0 for o in orders)
        assert any(o["amount"] == 5_000_000.0 for o in orders)
        assert any(o["status"] == "teleported" for o in orders)
        ids = [o["order_id"] for o in orders if o["order_id"] is not None]
        assert len(ids) > len(set(ids))
        customers = read_csv(tmp_path / "customers_0001.csv")
        assert any(c["customer_id"] == "" for c in customers)
        assert any(len(c["country"]) != 2 for c in customers)
        keys = [c["customer_id"] for c in customers]
        assert len(keys) > len(set(keys))

    def test_batch2_has_scd2_changes_late_arrivals_and_an_extra_column(
        self, tmp_path: Path
    ) -> None:
        """Batch 2 changes customers (some effective before the batch date), adds a column."""
        generate_sample(tmp_path, 2_000)
        first = {c["customer_id"]: c for c in read_csv(tmp_path / "customers_0001.csv")}
        second = read_csv(tmp_path / "customers_0002.csv")
        changed = [c for c in second if c["customer_id"] in first]
        new = [c for c in second if c["customer_id"] not in first]
        assert changed
        assert new
        assert len({c["updated_at"][:10] for c in changed}) == 2  # late and on-time changes
        orders = read_json(tmp_path / "orders_0002.json")
        assert all("coupon_code" in o for o in orders)
        assert "coupon_code" not in read_json(tmp_path / "orders_0001.json")[0]

    def test_same_seed_same_files(self, tmp_path: Path) -> None:
        """A seed fully determines the output."""
        generate_sample(tmp_path / "a", 100, seed=3)
        generate_sample(tmp_path / "b", 100, seed=3)
        generate_sample(tmp_path / "c", 100, seed=4)
        a = (tmp_path / "a" / "orders_0001.json").read_text()
        assert a == (tmp_path / "b" / "orders_0001.json").read_text()
        assert a != (tmp_path / "c" / "orders_0001.json").read_text()

    def test_rejects_too_few_rows(self, tmp_path: Path) -> None:
        """Fewer than 10 rows is refused with the flag named."""
        with pytest.raises(ValueError, match="--rows must be at least 10"):
            generate_sample(tmp_path, 3)
