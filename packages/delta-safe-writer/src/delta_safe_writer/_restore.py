"""restore: bring back an earlier version as a new RESTORE commit."""

from __future__ import annotations

from delta_safe_writer._protocol import Call, Plan
from delta_safe_writer.errors import TableNotFoundError


def plan_restore(call: Call, version: int) -> Plan:
    """Check the table exists and plan the RESTORE (no hooks: a restore is an undo).

    Raises:
        TableNotFoundError: There is no Delta table at the target.
    """
    if not call.table.exists():
        raise TableNotFoundError(
            f"restore needs an existing Delta table, but there is none at {call.table.name}. "
            f"Check the path or name.",
            table=call.table.name,
            operation="restore",
        )

    def action() -> None:
        with call.confs(restored_version=version):
            call.table.engine.restore(call.table, version)

    return Plan(action=action, hooks=False)
