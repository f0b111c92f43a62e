"""``SchemaRegistry``: versioned table schemas stored as one YAML file per version."""

from __future__ import annotations

import os
import re
from pathlib import Path

from schema_registry._compat import Compatibility
from schema_registry._drift import Incompatibility, detect_drift
from schema_registry._model import TableSchema
from schema_registry.errors import (
    IncompatibleSchemaError,
    InvalidSubjectNameError,
    SchemaFileError,
    SubjectNotFoundError,
    VersionConflictError,
    VersionNotFoundError,
)

__all__ = ["LAYERS", "SchemaRegistry", "validate_subject_name"]

#: Layers a subject may belong to, in pipeline order.
LAYERS = ("bronze", "silver", "gold")
_TABLE = re.compile(r"^[a-z][a-z0-9_]*$")
_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.yaml$")
#: Mode of a subject whose first version is registered without one (Confluent's default).
DEFAULT_COMPATIBILITY = Compatibility.BACKWARD


def validate_subject_name(name: str) -> tuple[str, str]:
    """Split ``<layer>.<table>`` into its parts.

    Args:
        name: Subject name such as ``silver.orders``.

    Returns:
        ``(layer, table)``.

    Raises:
        InvalidSubjectNameError: Not two dot-separated parts, an unknown layer, or a table name
            that is not lower-case letters, digits and underscores.
    """
    parts = name.split(".") if isinstance(name, str) else []
    if len(parts) != 2 or parts[0] not in LAYERS or not _TABLE.match(parts[1]):
        raise InvalidSubjectNameError(
            f"invalid subject name {name!r}: use '<layer>.<table>' with layer one of "
            f"{', '.join(LAYERS)} and a table name of lower-case letters, digits and "
            "underscores starting with a letter, e.g. 'silver.orders'"
        )
    return parts[0], parts[1]


class SchemaRegistry:
    """Named, versioned table schemas kept as human-editable YAML files in a folder.

    Layout: ``<folder>/<layer>/<table>/v<N>.yaml``, one file per version, so every change is a
    reviewable file in git. Files are read on every call (no cache), so edits show up at once.

    Args:
        folder: Root folder of the registry; created on the first ``register``.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"SchemaRegistry({str(self.folder)!r})"

    def _subject_dir(self, name: str) -> Path:
        layer, table = validate_subject_name(name)
        return self.folder / layer / table

    def path(self, name: str, version: int) -> Path:
        """The file that holds (or would hold) ``version`` of subject ``name``."""
        return self._subject_dir(name) / f"v{version}.yaml"

    def subjects(self) -> list[str]:
        """Every subject with at least one version, sorted."""
        found = []
        for layer in LAYERS:
            layer_dir = self.folder / layer
            if not layer_dir.is_dir():
                continue
            for table_dir in sorted(layer_dir.iterdir()):
                name = f"{layer}.{table_dir.name}"
                if _TABLE.match(table_dir.name) and self.versions(name):
                    found.append(name)
        return found

    def versions(self, name: str) -> list[int]:
        """Registered version numbers of ``name`` in ascending order (empty when unknown).

        Raises:
            InvalidSubjectNameError: ``name`` is not ``<layer>.<table>``.
        """
        subject_dir = self._subject_dir(name)
        if not subject_dir.is_dir():
            return []
        numbers = []
        for entry in subject_dir.iterdir():
            match = _VERSION_FILE.match(entry.name)
            if match:
                numbers.append(int(match.group(1)))
        return sorted(numbers)

    def get(self, name: str, version: int | None = None) -> TableSchema:
        """Load a version of a subject (the latest when ``version`` is None).

        Returns:
            The schema with ``name``, ``version`` and ``compatibility`` set.

        Raises:
            InvalidSubjectNameError: ``name`` is not ``<layer>.<table>``.
            SubjectNotFoundError: No version of ``name`` is registered.
            VersionNotFoundError: ``version`` is not registered.
            SchemaFileError: The file is malformed or disagrees with its path.
        """
        available = self.versions(name)
        if not available:
            raise SubjectNotFoundError(
                f"no schema registered for {name!r} in {self.folder}; register one with "
                f"SchemaRegistry.register({name!r}, schema) or add {self.path(name, 1)}"
            )
        if version is None:
            version = available[-1]
        elif version not in available:
            raise VersionNotFoundError(
                f"{name!r} has no version {version} in {self.folder}; registered versions: "
                f"{', '.join(map(str, available))}"
            )
        return self._read(name, version)

    def _read(self, name: str, version: int) -> TableSchema:
        file = self.path(name, version)
        schema = TableSchema.load(file)
        if schema.name is not None and schema.name != name:
            raise SchemaFileError(
                str(file), "name", f"says {schema.name!r} but the file's folder means {name!r}"
            )
        if schema.version is not None and schema.version != version:
            raise SchemaFileError(
                str(file),
                "version",
                f"says {schema.version} but the file name means {version}; rename the file or "
                "fix the version",
            )
        return schema.with_identity(
            name=name,
            version=version,
            compatibility=schema.compatibility or DEFAULT_COMPATIBILITY,
        )

    def compatibility(self, name: str) -> Compatibility:
        """The mode in force for ``name``: the latest version's, or BACKWARD for a new subject."""
        if not self.versions(name):
            return DEFAULT_COMPATIBILITY
        latest = self.get(name)
        assert latest.compatibility is not None  # _read always sets it
        return latest.compatibility

    def check(
        self,
        name: str,
        schema: TableSchema,
        *,
        compatibility: Compatibility | str | None = None,
    ) -> list[Incompatibility]:
        """Return what in ``schema`` breaks the subject's compatibility mode (empty: compatible).

        Args:
            name: Subject name.
            schema: Candidate new version.
            compatibility: Mode to check instead of the subject's current one.
        """
        mode = (
            Compatibility.parse(compatibility)
            if compatibility is not None
            else self.compatibility(name)
        )
        available = self.versions(name)
        if mode is Compatibility.NONE or not available:
            return []
        against = available if mode.transitive else available[-1:]
        return [
            Incompatibility(version, change)
            for version in reversed(against)
            for change in detect_drift(self._read(name, version), schema).breaking_changes(mode)
        ]

    def register(
        self,
        name: str,
        schema: TableSchema,
        *,
        compatibility: Compatibility | str | None = None,
    ) -> TableSchema:
        """Store ``schema`` as the next version of ``name``, if compatible.

        Registering content identical to an existing version returns that version and writes
        nothing. When ``schema.version`` is set it must be the next free number, or an existing
        version with the same content.

        Args:
            name: Subject name ``<layer>.<table>``.
            schema: The schema; its ``name`` (when set) must equal ``name``.
            compatibility: Mode to check and record with this version; by default the subject's
                current mode (BACKWARD for a new subject).

        Returns:
            The registered schema with ``name``, ``version`` and ``compatibility`` set.

        Raises:
            InvalidSubjectNameError: ``name`` is not ``<layer>.<table>``.
            IncompatibleSchemaError: The schema breaks the mode; lists each change and path.
            VersionConflictError: ``schema.version`` is taken by different content or skips
                numbers, or another writer took the version first.
        """
        validate_subject_name(name)
        if schema.name is not None and schema.name != name:
            raise VersionConflictError(
                f"schema is named {schema.name!r} but is being registered as {name!r}; "
                "register it under its own name or clear its name"
            )
        mode = (
            Compatibility.parse(compatibility)
            if compatibility is not None
            else self.compatibility(name)
        )
        available = self.versions(name)
        if schema.version is not None and schema.version in available:
            existing = self._read(name, schema.version)
            if existing == schema:
                return existing
            raise VersionConflictError(
                f"{name!r} version {schema.version} is already registered with different "
                f"content ({self.path(name, schema.version)}); versions are immutable: drop "
                "the version number to register the change as the next version"
            )
        for version in reversed(available):
            existing = self._read(name, version)
            if existing == schema:
                return existing
        next_version = (available[-1] if available else 0) + 1
        if schema.version is not None and schema.version != next_version:
            raise VersionConflictError(
                f"cannot register {name!r} as version {schema.version}: the next version is "
                f"{next_version}; drop the version number to take the next one"
            )
        problems = self.check(name, schema, compatibility=mode)
        if problems:
            raise IncompatibleSchemaError(name, mode.value, problems)
        stored = schema.with_identity(name=name, version=next_version, compatibility=mode)
        file = self.path(name, next_version)
        file.parent.mkdir(parents=True, exist_ok=True)
        try:
            # 'x' mode: two writers racing for the same number cannot overwrite each other.
            with file.open("x", encoding="utf-8") as handle:
                handle.write(stored.to_yaml())
        except FileExistsError:
            raise VersionConflictError(
                f"{file} appeared while registering {name!r} version {next_version} (another "
                "writer?); retry to register as the following version"
            ) from None
        return stored
