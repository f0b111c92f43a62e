"""The README quick-start runner (tools/readme_quickstart.py, ``nox -s readme``) and the READMEs.

``nox -s readme`` needs minutes per README (a fresh venv, pyspark, Spark), so it is not in CI;
these checks are: the runner reads the marks, maps the install line to the built wheels and
compares output the way its docstring says, and every published README has a quick start it
can run, whose install line names that distribution.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = {
    "delta-session": "packages/delta-session",
    "etl-metrics": "packages/etl-metrics",
    "schema-registry": "packages/schema-registry",
    "dq-gates": "packages/dq-gates",
    "delta-safe-writer": "packages/delta-safe-writer",
    "etl-app": "apps/etl-app",
}


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "readme_quickstart", ROOT / "tools" / "readme_quickstart.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


rq = _load()

README = """# demo

<!-- quickstart -->
```bash
pip install "demo-lib[spark]" other-dep
```

Some prose.

<!-- quickstart -->
```python
x = 2
```

```python
print("not marked: never run")
```

<!-- quickstart -->
```python
print(x * 21)
```

<!-- quickstart -->
```text
42
```
"""


class TestParse:
    """Marked blocks are sorted into install line, steps and expected output."""

    def test_roles_of_marked_blocks(self) -> None:
        """The pip line is kept apart, unmarked blocks are ignored, text is expected output."""
        quickstart = rq.parse(README)
        assert quickstart.install == ["demo-lib[spark]", "other-dep"]
        assert [block.code for block in quickstart.steps] == ["x = 2", "print(x * 21)"]
        assert quickstart.expected == ["42"]

    def test_marker_without_fence_is_an_error(self) -> None:
        """A marker followed by prose names its line."""
        with pytest.raises(ValueError, match=r"line 1: .* must be directly followed"):
            rq.parse("<!-- quickstart -->\nprose\n")

    def test_readme_without_install_line_is_refused(self) -> None:
        """A quick start must say how to install."""
        with pytest.raises(ValueError, match="pip install"):
            rq.parse("<!-- quickstart -->\n```python\nprint(1)\n```\n")

    def test_output_before_any_step_is_refused(self) -> None:
        """Output shown before anything that prints it is a mistake in the README."""
        text = "<!-- quickstart -->\n```text\n1\n```\n"
        with pytest.raises(ValueError, match="output shown before"):
            rq.parse(text)


class TestInstallArgs:
    """Our distributions are replaced by their built wheels; other requirements stay."""

    def test_wheel_replaces_name_and_keeps_extras(self, tmp_path: Path) -> None:
        """``demo-lib[spark]`` becomes a direct reference to the wheel with the same extra."""
        wheel = tmp_path / "demo_lib-0.1.0-py3-none-any.whl"
        args = rq.install_args(rq.parse(README), {"demo-lib": str(wheel)})
        assert args == [f"demo-lib[spark] @ {wheel.as_uri()}", "other-dep"]

    def test_version_constraint_on_own_distribution_is_refused(self, tmp_path: Path) -> None:
        """A pinned version of our own package could not be the wheel just built."""
        quickstart = rq.parse(README.replace('"demo-lib[spark]"', '"demo-lib>=9"'))
        with pytest.raises(ValueError, match="version constraint"):
            rq.install_args(quickstart, {"demo-lib": str(tmp_path / "w.whl")})


class TestMatches:
    """Printed output is compared line by line, with ``...`` wildcards."""

    def test_exact_lines_match_and_trailing_space_is_ignored(self) -> None:
        """Trailing spaces and blank lines at the end do not count."""
        assert rq.matches(["a", "b"], ["a  ", "b", ""])

    def test_different_line_fails(self) -> None:
        """A changed value is a mismatch."""
        assert not rq.matches(["count 4"], ["count 5"])

    def test_missing_and_extra_lines_fail(self) -> None:
        """Output must not be shorter or longer than shown."""
        assert not rq.matches(["a", "b"], ["a"])
        assert not rq.matches(["a"], ["a", "b"])

    def test_ellipsis_inside_a_line_matches_any_text(self) -> None:
        """``...`` stands for a run id or a time, and the rest of the line must still match."""
        assert rq.matches(["run ... SUCCESS in ...s"], ["run 2026-1a2b SUCCESS in 41.3s"])
        assert not rq.matches(["run ... SUCCESS in ...s"], ["run 2026-1a2b FAILURE in 41.3s"])

    def test_ellipsis_line_matches_any_number_of_lines(self) -> None:
        """A line of ``...`` skips zero or more lines."""
        assert rq.matches(["start", "...", "end"], ["start", "end"])
        assert rq.matches(["start", "...", "end"], ["start", "x", "y", "end"])
        assert not rq.matches(["start", "...", "end"], ["start", "x"])


class TestRun:
    """Steps run in order in the working folder; output is collected; failures stop the run."""

    def test_python_blocks_share_one_script(self, tmp_path: Path) -> None:
        """The second python block sees the first block's names; output is returned."""
        venv = Path(sys.executable).parent.parent  # this interpreter stands in for the venv
        output = rq.run(rq.parse(README), venv, tmp_path / "work")
        assert rq.matches(rq.parse(README).expected, output)

    def test_failing_step_raises_with_its_readme_lines(self, tmp_path: Path) -> None:
        """An exception in a block fails the run, naming where in the README it is."""
        broken = README.replace("print(x * 21)", "raise SystemExit(3)")
        venv = Path(sys.executable).parent.parent
        with pytest.raises(RuntimeError, match=r"README lines \d+-\d+ exited with code 3"):
            rq.run(rq.parse(broken), venv, tmp_path / "work")


class TestPublishedReadmes:
    """Every published distribution's README has a quick start that ``nox -s readme`` can run."""

    @pytest.mark.parametrize("name", sorted(PUBLISHED))
    def test_quick_start_installs_this_distribution_and_shows_output(self, name: str) -> None:
        """Its install line names the distribution, and it shows what the example prints."""
        quickstart = rq.parse((ROOT / PUBLISHED[name] / "README.md").read_text(encoding="utf-8"))
        installed = {word.split("[")[0] for word in quickstart.install}
        assert name in installed
        assert quickstart.steps
        assert quickstart.expected
