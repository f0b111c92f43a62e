"""``etl-app schemas``: the registered table contracts and their versions."""

from __future__ import annotations

from pathlib import Path

from schema_registry import SchemaRegistry


def describe_registry(folder: Path) -> str:
    """Return one block per subject: versions, compatibility mode and the latest columns.

    Args:
        folder: Schema registry folder.

    Returns:
        Text for the terminal.
    """
    registry = SchemaRegistry(folder)
    subjects = registry.subjects()
    if not subjects:
        return f"no schemas registered in {folder}"
    lines = [f"schema registry {folder}"]
    for name in subjects:
        versions = registry.versions(name)
        latest = registry.get(name)
        lines.append(
            f"{name}  versions {', '.join(f'v{v}' for v in versions)}  "
            f"(latest v{latest.version}, {latest.compatibility})"
        )
        lines.extend(
            f"    {f.name:<18} {f.type.simple_string():<14} "
            f"{'' if f.nullable else 'not null'}".rstrip()
            for f in latest.fields
        )
    return "\n".join(lines)
