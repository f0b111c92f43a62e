import pytest

from schema_registry import Compatibility, Field, SchemaRegistry, TableSchema, validate_subject_name
from schema_registry.errors import (
    IncompatibleSchemaError,
    InvalidSubjectNameError,
    SchemaFileError,
    SubjectNotFoundError,
    VersionConflictError,
    VersionNotFoundError,
)

V1 = TableSchema([Field("id", "bigint", nullable=False), Field("amount", "int")])
V2 = TableSchema([*V1.fields, Field("note", "string")])


@pytest.fixture
def registry(tmp_path):
    """An empty registry in a temp folder."""
    return SchemaRegistry(tmp_path / "schemas")


class TestRegister:
    def test_assigns_versions_and_writes_one_file_each(self, registry):
        """Versions count up from 1 and each lands in <layer>/<table>/v<N>.yaml."""
        first = registry.register("silver.orders", V1)
        second = registry.register("silver.orders", V2)
        assert (first.version, second.version) == (1, 2)
        assert registry.versions("silver.orders") == [1, 2]
        assert (
            registry.path("silver.orders", 2) == registry.folder / "silver" / "orders" / "v2.yaml"
        )
        assert (
            registry.path("silver.orders", 2)
            .read_text()
            .startswith("name: silver.orders\nversion: 2\n")
        )
        assert registry.get("silver.orders") == V2
        assert registry.get("silver.orders", version=1) == V1
        assert registry.get("silver.orders").compatibility is Compatibility.BACKWARD
        assert registry.subjects() == ["silver.orders"]
        assert repr(registry).startswith("SchemaRegistry(")

    def test_same_content_is_idempotent(self, registry):
        """Registering identical content returns the existing version and writes nothing."""
        registry.register("gold.kpis", V1)
        registry.register("gold.kpis", V2)
        again = registry.register("gold.kpis", TableSchema.from_yaml(V1.to_yaml()))
        assert again.version == 1
        assert registry.versions("gold.kpis") == [1, 2]
        assert registry.register("gold.kpis", registry.get("gold.kpis", 2)).version == 2

    def test_same_version_with_different_content_is_refused(self, registry):
        """A schema that claims a taken version number with other content is refused."""
        registry.register("bronze.events", V1)
        claimed = V2.with_identity(name="bronze.events", version=1, compatibility=None)
        with pytest.raises(VersionConflictError, match=r"version 1 is already registered"):
            registry.register("bronze.events", claimed)
        skipping = V2.with_identity(name=None, version=5, compatibility=None)
        with pytest.raises(VersionConflictError, match="the next version is 2"):
            registry.register("bronze.events", skipping)
        explicit_next = V2.with_identity(name=None, version=2, compatibility=None)
        assert registry.register("bronze.events", explicit_next).version == 2

    def test_name_must_match_schema_name(self, registry):
        """A schema named for one subject cannot be registered under another."""
        with pytest.raises(VersionConflictError, match=r"named 'silver\.a'"):
            registry.register(
                "silver.b", V1.with_identity(name="silver.a", version=None, compatibility=None)
            )

    def test_breaking_change_lists_each_path(self, registry):
        """A BACKWARD-breaking version is refused with every offending change and its path."""
        registry.register("silver.orders", V1)
        breaking = TableSchema(
            [
                Field("id", "int", nullable=False),
                Field("amount", "int", nullable=False),
                Field("x", "date", nullable=False),
            ]
        )
        with pytest.raises(IncompatibleSchemaError) as info:
            registry.register("silver.orders", breaking)
        err = info.value
        assert err.subject == "silver.orders"
        assert err.mode == "BACKWARD"
        assert [(p.against_version, p.change.path, p.change.kind.value) for p in err.problems] == [
            (1, "id", "type_mismatch"),
            (1, "amount", "nullability_change"),
            (1, "x", "extra_column"),
        ]
        message = str(err)
        assert "against v1: id: type_mismatch (bigint -> int)" in message
        assert "breaks its BACKWARD compatibility with 3 change(s)" in message
        assert registry.versions("silver.orders") == [1]

    def test_explicit_mode_is_checked_and_recorded(self, registry):
        """Passing a mode checks the new version under it and records it for later versions."""
        registry.register("silver.orders", V1)
        narrowed = TableSchema([Field("id", "int", nullable=False), Field("amount", "int")])
        stored = registry.register("silver.orders", narrowed, compatibility="FORWARD")
        assert stored.compatibility is Compatibility.FORWARD
        assert registry.compatibility("silver.orders") is Compatibility.FORWARD
        none = registry.register(
            "silver.orders",
            TableSchema([Field("z", "string", nullable=False)]),
            compatibility="NONE",
        )
        assert none.version == 3

    def test_transitive_checks_every_version(self, registry):
        """A *_TRANSITIVE mode compares with all earlier versions, not only the latest."""
        registry.register(
            "gold.t", TableSchema([Field("a", "bigint")]), compatibility="BACKWARD_TRANSITIVE"
        )
        registry.register("gold.t", TableSchema([Field("b", "int")]))  # drops nullable 'a'
        v3 = TableSchema([Field("a", "int"), Field("b", "int")])  # 'a' returns narrower
        assert not registry.check("gold.t", v3, compatibility="BACKWARD")
        problems = registry.check("gold.t", v3)
        assert [(p.against_version, p.change.path, p.change.kind.value) for p in problems] == [
            (1, "a", "type_mismatch")
        ]
        assert "against v1: a: type_mismatch (bigint -> int): type narrowed" in str(problems[0])
        with pytest.raises(IncompatibleSchemaError, match="BACKWARD_TRANSITIVE"):
            registry.register("gold.t", v3)


class TestLookup:
    def test_unknown_subject_and_version(self, registry):
        """Unknown subjects and versions raise lookup errors that say what exists."""
        assert registry.versions("gold.nothing") == []
        assert registry.subjects() == []
        with pytest.raises(SubjectNotFoundError, match=r"no schema registered for 'gold\.nothing'"):
            registry.get("gold.nothing")
        registry.register("gold.nothing", V1)
        with pytest.raises(VersionNotFoundError, match="registered versions: 1"):
            registry.get("gold.nothing", version=4)
        assert registry.compatibility("bronze.new") is Compatibility.BACKWARD

    @pytest.mark.parametrize(
        "name", ["orders", "platinum.orders", "silver.Orders", "silver.a.b", "silver.9x", ""]
    )
    def test_invalid_names(self, registry, name):
        """Names must be <layer>.<table> with a known layer and a lower-case table name."""
        with pytest.raises(InvalidSubjectNameError, match="bronze, silver, gold"):
            registry.versions(name)

    def test_valid_name_splits(self):
        """A valid name splits into layer and table."""
        assert validate_subject_name("gold.daily_kpis_2") == ("gold", "daily_kpis_2")

    def test_hand_edited_file_must_match_its_path(self, registry):
        """A file whose name or version disagrees with its path is reported with the file."""
        registry.register("silver.orders", V1)
        path = registry.path("silver.orders", 1)
        path.write_text(path.read_text().replace("version: 1", "version: 3"))
        with pytest.raises(
            SchemaFileError, match=r"v1\.yaml: version: says 3 but the file name means 1"
        ):
            registry.get("silver.orders")
        path.write_text(path.read_text().replace("name: silver.orders", "name: silver.other"))
        with pytest.raises(SchemaFileError, match=r"says 'silver\.other'"):
            registry.get("silver.orders")

    def test_file_without_identity_gets_defaults(self, registry):
        """A minimal hand-written file gets its name and version from its path, mode BACKWARD."""
        path = registry.path("bronze.raw", 1)
        path.parent.mkdir(parents=True)
        path.write_text("fields:\n  - {name: a, type: int}\n")
        (path.parent / "notes.txt").write_text("ignored")
        (registry.folder / "bronze" / "Bad-Name").mkdir()
        loaded = registry.get("bronze.raw")
        assert (loaded.name, loaded.version, loaded.compatibility) == (
            "bronze.raw",
            1,
            Compatibility.BACKWARD,
        )
        assert registry.subjects() == ["bronze.raw"]

    def test_concurrent_writer_is_detected(self, registry, monkeypatch):
        """A version file appearing mid-register makes it fail instead of overwriting."""
        registry.register("silver.orders", V1)
        real_check = registry.check

        def racing_check(name, schema, **kwargs):
            registry.path(name, 2).write_text(V1.to_yaml())
            return real_check(name, schema, **kwargs)

        monkeypatch.setattr(registry, "check", racing_check)
        with pytest.raises(VersionConflictError, match="another writer"):
            registry.register("silver.orders", V2)
