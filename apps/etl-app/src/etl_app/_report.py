"""The run report: what each stage read, wrote, quarantined and dropped; printed and as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from etl_app._observe import redact_strings, redact_text


@dataclass
class TableStep:
    """One write of one stage to one table.

    Attributes:
        stage: ``bronze``, ``silver`` or ``gold``.
        table: Table name (``silver.orders``, ``quarantine.orders``, ...).
        batch_id: Bronze batch the write belongs to (None for gold).
        operation: Writer operation (``append``, ``merge``, ``scd2_merge``, ...).
        rows_in: Rows handed to the write.
        rows_written: Rows inserted + updated according to the Delta commit.
        version: Table version written, or None when skipped.
        skipped: Why nothing was written (already processed batch, empty input), if so.
        seconds: Wall time of the write, checks included.
    """

    stage: str
    table: str
    operation: str
    rows_in: int
    rows_written: int
    version: int | None
    batch_id: int | None = None
    skipped: str | None = None
    seconds: float = 0.0


@dataclass
class RunReport:
    """Everything a run did, for people (``summary_table``) and machines (``to_dict``).

    Attributes:
        run_id: Unique id of the run (also in every Delta commit's userMetadata).
        job: Job name.
        env: Environment.
        stages: Stages requested (``full``, ``bronze``, ...).
        status: ``success`` or ``failed``.
        started_at: ISO timestamp (UTC).
        finished_at: ISO timestamp (UTC).
        duration_s: Wall time of the run in seconds.
        stage_durations_s: Wall time per stage.
        steps: Every table write.
        reconciliation: Per batch: every counted term (bronze, gate_in, gate_valid,
            gate_quarantined, gate_dropped, quarantined, dedup_kept, duplicates_dropped,
            silver) and ok.
        drift: Drift findings per source file.
        gates: Gate results (``GateResult.to_dict()``) per batch.
        gold_dates: Dates whose gold revenue partitions were rewritten.
        metrics_sink: Where metrics went (Pushgateway URL, credentials masked, or textfile
            path) and whether they got there.
        metrics: The metrics outcome (``MetricsOutcome.to_dict()``): ``ok``, ``sink``,
            ``target``, ``error``, ...; empty until the metrics are published. Separate from
            ``status``, the data outcome.
        inputs: Per input file: records read, rows to bronze, unreadable records set aside
            (with reasons) and whether they add up.
        dq_history: The gates' results history table (read it with
            ``dq_gates.ResultsHistory(path).read(spark)``).
        anomalies: Anomaly checks that judged a batch anomalous (table, batch, check, value,
            bounds, message).
        output_root: The data root.
        error: The error message when the run failed.
        report_path: Where the JSON report was written.
    """

    run_id: str
    job: str
    env: str
    stages: str
    output_root: str
    status: str = "running"
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    stage_durations_s: dict[str, float] = field(default_factory=dict)
    steps: list[TableStep] = field(default_factory=list)
    reconciliation: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    gold_dates: list[str] = field(default_factory=list)
    metrics_sink: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    dq_history: str = ""
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    report_path: str = ""

    @property
    def metrics_ok(self) -> bool:
        """Whether the metrics were delivered (False until they are published)."""
        return bool(self.metrics.get("ok"))

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data, with the credentials of any URL masked."""
        data: dict[str, Any] = redact_strings(asdict(self))
        return data

    def write(self, path: Path) -> None:
        """Save the report as JSON at ``path`` (parents created), replacing it atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.report_path = str(path)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(json.dumps(self.to_dict(), indent=2, default=str), encoding="utf-8")
        partial.replace(path)

    def summary_table(self) -> str:
        """Return a fixed-width table of every write, the reconciliation and the outcome."""
        header = ("stage", "table", "batch", "operation", "rows in", "written", "version", "note")
        rows = [
            (
                s.stage,
                s.table,
                "" if s.batch_id is None else str(s.batch_id),
                s.operation,
                str(s.rows_in),
                str(s.rows_written),
                "" if s.version is None else str(s.version),
                s.skipped or "",
            )
            for s in self.steps
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

        out = [
            f"etl-app run {self.run_id} (job {self.job}, env {self.env}, --cmd {self.stages}): "
            f"{self.status.upper()} in {self.duration_s:.1f}s",
            line(header),
            line(tuple("-" * w for w in widths)),
            *(line(r) for r in rows),
        ]
        if self.reconciliation:
            out.append(
                "reconciliation (bronze = silver + quarantined + duplicates dropped "
                "[+ dropped by the gate]):"
            )
            out.extend(
                f"  {r['table']} batch {r['batch_id']}: {r['bronze']} = {r['silver']} + "
                f"{r['quarantined']} + {r['duplicates_dropped']}"
                + (f" + {r['gate_dropped']}" if r.get("gate_dropped") else "")
                + f"  {'ok' if r['ok'] else 'MISMATCH'}"
                for r in self.reconciliation
            )
        if self.drift:
            out.append("schema drift:")
            out.extend(
                f"  {d['table']} {Path(d['file']).name}: {d['summary']} (policy {d['policy']})"
                for d in self.drift
            )
        if self.gold_dates:
            out.append(f"gold dates rewritten: {', '.join(self.gold_dates)}")
        if self.stage_durations_s:
            timings = ", ".join(f"{k} {v:.1f}s" for k, v in self.stage_durations_s.items())
            out.append(f"stage durations: {timings}")
        if self.inputs:
            out.append("input (records in the file = rows to bronze + unreadable):")
            out.extend(
                f"  {Path(i['file']).name}: {i['records']} = {i['bronze']} + {i['unreadable']}"
                + (f" ({', '.join(i['reasons'])})" if i.get("reasons") else "")
                + f"  {'ok' if i['ok'] else 'MISMATCH'}"
                for i in self.inputs
            )
        out.extend(
            f"anomaly: {a['table']} batch {a['batch_id']} {a['check']} ({a['action']}): "
            f"{a['message']}"
            for a in self.anomalies
        )
        if self.dq_history:
            out.append(f"gate results history: {self.dq_history}")
        if self.metrics_sink:
            out.append(f"metrics: {self.metrics_sink}")
        if self.metrics.get("error"):
            out.append(
                f"metrics error: {self.metrics['error']} (the data outcome above stands; "
                "metrics.pushgateway.strict makes this exit code 4)"
            )
        if self.error:
            out.append(f"error: {self.error}")
        return redact_text("\n".join(out))
