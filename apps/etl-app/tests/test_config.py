from pathlib import Path

import pytest

from etl_app import AppConfig, ConfigError, load_config
from etl_app._config import InputConfig, SourceConfig, _convert, deep_merge
from etl_app._resources import resource_path


def write(tmp_path: Path, text: str, name: str = "app.yaml") -> Path:
    """Write a config file and return its path."""
    path = tmp_path / name
    path.write_text(text)
    return path


class TestDefaults:
    def test_bundled_defaults_point_at_bundled_resources(self, tmp_path: Path) -> None:
        """Without a file the config uses the bundled sample, registry and gates, output in cwd."""
        config = load_config()
        assert config.input_dir() == resource_path("sample")
        assert config.schemas_dir() == resource_path("schemas")
        assert config.gates_dir() == resource_path("gates")
        assert config.output_root() == (Path.cwd() / "etl-output").resolve()
        assert config.job.env == "local"
        assert config.schemas.drift_policy == "warn"
        assert config.metrics.pushgateway.url is None

    def test_example_config_is_valid_for_each_env(self) -> None:
        """The example config shipped with the package validates under every env it defines."""
        example = resource_path("config/example.yaml")
        prod = load_config(example, "prod")
        assert prod.spark.master == "local[*]"
        assert prod.logging.format == "json"
        assert prod.metrics.pushgateway.grouping_key == {"instance": "etl-app"}
        assert load_config(example, "ci").schemas.drift_policy == "fail"


class TestLayering:
    def test_env_overlay_deep_merges_over_file_and_defaults(self, tmp_path: Path) -> None:
        """An env overlay changes only the keys it names; siblings keep file and default values."""
        path = write(
            tmp_path,
            "spark: {master: 'local[1]'}\n"
            "envs:\n  dev: {spark: {shuffle_partitions: 8}}\n  prod: {}\n",
        )
        config = load_config(path, "dev")
        assert config.spark.master == "local[1]"
        assert config.spark.shuffle_partitions == 8
        assert config.spark.app_name == "etl-app"
        assert config.job.env == "dev"

    def test_relative_input_paths_resolve_against_the_config_folder(self, tmp_path: Path) -> None:
        """input.dir, schemas.dir and gates.dir are relative to the config file's folder."""
        path = write(tmp_path, "input: {dir: data}\nschemas: {dir: reg}\ngates: {dir: /abs/g}\n")
        config = load_config(path)
        assert config.input_dir() == tmp_path / "data"
        assert config.schemas_dir() == tmp_path / "reg"
        assert config.gates_dir() == Path("/abs/g")

    def test_overrides_replace_input_and_output(self, tmp_path: Path) -> None:
        """CLI overrides replace input.dir and output.root."""
        config = load_config().with_overrides(input_dir=str(tmp_path), output_root="/x/out")
        assert config.input_dir() == tmp_path
        assert config.output_root() == Path("/x/out")

    def test_output_override_keeps_the_other_output_settings(self, tmp_path: Path) -> None:
        """--output replaces output.root only: output.deletion_vectors stays as configured."""
        path = write(tmp_path, "output: {root: a, deletion_vectors: false}\n")
        config = load_config(path).with_overrides(output_root="/x/out")
        assert config.output_root() == Path("/x/out")
        assert config.output.deletion_vectors is False

    def test_deep_merge_replaces_non_mappings_and_copies(self) -> None:
        """deep_merge merges nested mappings and leaves both inputs untouched."""
        base = {"a": {"b": 1, "c": [1]}, "d": 1}
        overlay = {"a": {"c": [2]}, "d": {"e": 2}}
        assert deep_merge(base, overlay) == {"a": {"b": 1, "c": [2]}, "d": {"e": 2}}
        assert base == {"a": {"b": 1, "c": [1]}, "d": 1}

    def test_string_map_values_are_stringified(self, tmp_path: Path) -> None:
        """Spark conf values given as YAML numbers or booleans become Spark's string form."""
        path = write(tmp_path, "spark: {conf: {spark.x: 1, spark.y: true}}\n")
        assert load_config(path).spark.conf == {"spark.x": "1", "spark.y": "true"}

    def test_config_is_frozen(self) -> None:
        """A loaded config cannot be mutated by accident."""
        config: AppConfig = load_config()
        with pytest.raises(AttributeError):
            config.job = None  # type: ignore[misc]


class TestValidation:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("spark: {mastr: x}\n", "spark.mastr: unknown key"),
            ("bogus: 1\n", "bogus: unknown key"),
            (
                "spark: {shuffle_partitions: many}\n",
                "spark.shuffle_partitions: expected an integer",
            ),
            (
                "spark: {shuffle_partitions: true}\n",
                "spark.shuffle_partitions: expected an integer",
            ),
            (
                "metrics: {pushgateway: {timeout_s: soon}}\n",
                "metrics.pushgateway.timeout_s: expected a number",
            ),
            (
                "metrics: {pushgateway: {strict: 1}}\n",
                "metrics.pushgateway.strict: expected true or false",
            ),
            (
                "output: {deletion_vectors: 'no'}\n",
                "output.deletion_vectors: expected true or false",
            ),
            ("schemas: {drift_policy: ignore}\n", "schemas.drift_policy: expected one of 'warn'"),
            ("spark: [1]\n", "spark: expected a mapping"),
            ("spark: {conf: {a: [1]}}\n", "spark.conf: expected a mapping of strings"),
            (
                "input: {orders: {format: xml}}\n",
                "input.orders.format: expected one of 'csv', 'json'",
            ),
            ("input: {dir: 3}\n", "input.dir: expected a string"),
            (
                "metrics: {pushgateway: {timeout_s: true}}\n",
                "metrics.pushgateway.timeout_s: expected a number, got True",
            ),
            ("base_dir: /elsewhere\n", "base_dir: unknown key; expected one of gates, input"),
            ("input: {orders: {pattern: o, format: json, x: 1}}\n", "input.orders.x: unknown key"),
            ("envs: [1]\n", "envs: expected a mapping"),
            ("envs: {local: 3}\n", "envs.local: expected a mapping"),
            ("- a\n", "top level must be a mapping"),
            ("a: [\n", "not valid YAML"),
        ],
    )
    def test_bad_values_name_the_key_path(self, tmp_path: Path, text: str, expected: str) -> None:
        """Unknown keys and wrong types raise ConfigError naming the key path and the file."""
        path = write(tmp_path, text)
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert expected in str(info.value)
        assert str(path) in str(info.value)
        assert info.value.exit_code == 2

    def test_all_problems_are_reported_at_once(self, tmp_path: Path) -> None:
        """Every problem in a file is listed, not just the first."""
        path = write(tmp_path, "spark: {master: 1, nope: 2}\nlogging: {level: LOUD}\n")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert len(info.value.problems) == 3

    def test_unknown_env_lists_the_defined_ones(self, tmp_path: Path) -> None:
        """Asking for an env the file does not define names the ones it does."""
        path = write(tmp_path, "envs: {dev: {}, prod: {}}\n")
        with pytest.raises(ConfigError, match=r"envs.stage: unknown env; defined: dev, prod"):
            load_config(path, "stage")

    def test_missing_file_is_a_config_error(self, tmp_path: Path) -> None:
        """A config path that does not exist is reported as such."""
        with pytest.raises(ConfigError, match="file not found"):
            load_config(tmp_path / "nope.yaml")

    def test_unreadable_file_is_a_config_error(self, tmp_path: Path) -> None:
        """A config path that is a folder is reported as unreadable."""
        with pytest.raises(ConfigError, match="cannot read"):
            load_config(tmp_path)

    def test_empty_file_means_defaults(self, tmp_path: Path) -> None:
        """An empty file is valid and yields the defaults."""
        assert load_config(write(tmp_path, "")).spark == load_config().spark

    def test_textfile_must_be_a_prom_file(self, tmp_path: Path) -> None:
        """metrics.textfile must end in .prom, the only files node-exporter reads."""
        path = write(tmp_path, "metrics: {textfile: out/metrics.txt}\n")
        with pytest.raises(ConfigError, match=r"metrics.textfile: must end in .prom"):
            load_config(path)

    def test_required_keys_are_reported_when_missing(self) -> None:
        """A section without a required key names that key (sources need a format)."""
        problems: list[str] = []
        assert _convert(SourceConfig, {"pattern": "o*"}, "input.orders", problems) is None
        assert problems == ["input.orders.format: required key is missing"]

    def test_type_descriptions(self) -> None:
        """Messages describe optional, literal, mapping and nested types in words."""
        problems: list[str] = []
        _convert(InputConfig, {"dir": 1, "orders": 2}, "input", problems)
        assert sorted(problems) == [
            "input.dir: expected a string, got 1",
            "input.orders: expected a mapping, got 2",
        ]
