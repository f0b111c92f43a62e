"""``spark.remote``: an sc:// URL in the config, its token in the environment, never the file."""

from pathlib import Path

import pytest

from etl_app import ConfigError, load_config
from etl_app._config import SparkConfig
from etl_app._spark import build_spark_session
from etl_app.errors import SparkUnavailableError
from pipeline_testkit import free_port


def write(tmp_path: Path, text: str) -> Path:
    """Write a config file and return its path."""
    path = tmp_path / "app.yaml"
    path.write_text(text)
    return path


class TestRemoteConfig:
    """The config accepts a Spark Connect URL and refuses anything else, or a token in it."""

    def test_remote_is_off_by_default(self) -> None:
        """Without a file the app starts its own local Spark."""
        assert load_config().spark.remote is None
        assert load_config().spark.master == "local[2]"

    def test_sc_url_is_kept(self, tmp_path: Path) -> None:
        """An sc:// URL is taken as written, beside the untouched master."""
        config = load_config(write(tmp_path, "spark: {remote: 'sc://connect.internal:15002'}\n"))
        assert config.spark.remote == "sc://connect.internal:15002"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("'spark://host:7077'", "spark.remote: expected a Spark Connect URL such as sc://"),
            ("15002", "spark.remote: expected a string"),
            (
                "'sc://host:15002/;token=s3cr3t'",
                "spark.remote: holds a token (not shown); put it in the environment variable "
                "SPARK_CONNECT_AUTHENTICATE_TOKEN",
            ),
        ],
    )
    def test_bad_remote_names_the_key(self, tmp_path: Path, value: str, expected: str) -> None:
        """A non-Connect URL, a number or a URL holding a token is a ConfigError on the key."""
        with pytest.raises(ConfigError) as err:
            load_config(write(tmp_path, f"spark: {{remote: {value}}}\n"))
        assert expected in str(err.value)
        assert "s3cr3t" not in str(err.value)


class TestRemoteSession:
    """``build_spark_session`` goes to the remote when one is set, whatever the master says."""

    def test_unreachable_remote_is_spark_unavailable_with_its_address(self) -> None:
        """Nothing listening at the remote: SparkUnavailableError (exit 3) naming host and port."""
        port = free_port()
        config = SparkConfig(master="local[1]", remote=f"sc://localhost:{port}")
        with pytest.raises(SparkUnavailableError) as err:
            build_spark_session(config)
        assert f"Nothing accepts connections at localhost:{port}" in str(err.value)
