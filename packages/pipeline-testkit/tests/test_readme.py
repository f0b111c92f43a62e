"""run_readme_examples: a README's python blocks run in order, as a reader pastes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_testkit import ReadmeExampleError, readme_examples, run_readme_examples

README = """# demo

```bash
pip install demo
```

```python
import json
total = 40
```

Prose.

<!-- example: compile-only (needs a bucket) -->
```python
bucket = open_bucket("s3://lake")
```

```python
def add(x):
    return x + 2
result = add(total)
with open("out.json", "w") as f:
    json.dump(result, f)
```
"""


def _write(tmp_path: Path, text: str) -> Path:
    readme = tmp_path / "README.md"
    readme.write_text(text, encoding="utf-8")
    return readme


class TestReadmeExamples:
    """Blocks are found with their lines; only python blocks; compile-only marks are read."""

    def test_python_blocks_in_order_with_lines_and_marks(self, tmp_path: Path) -> None:
        """Each python fence, its opening line and its compile-only mark; bash is skipped."""
        examples = readme_examples(_write(tmp_path, README))
        assert [e.line for e in examples] == [7, 15, 19]
        assert [e.compile_only for e in examples] == [False, True, False]
        assert examples[0].code == "import json\ntotal = 40"


class TestRunReadmeExamples:
    """The blocks share one namespace, run in the work folder, and fail naming the line."""

    def test_blocks_share_names_and_write_into_workdir(self, tmp_path: Path) -> None:
        """A later block uses an earlier block's names; relative files land in workdir."""
        readme = _write(tmp_path, README.replace('open_bucket("s3://lake")', "None"))
        work = tmp_path / "work"
        work.mkdir()
        namespace = run_readme_examples(readme, work)
        assert namespace["result"] == 42
        assert namespace["bucket"] is None  # compile-only: known to later blocks, never run
        assert (work / "out.json").read_text() == "42"
        assert Path.cwd() != work

    def test_compile_only_block_is_not_run_but_its_names_are_checked(self, tmp_path: Path) -> None:
        """A compile-only block that calls an undefined function is refused by name."""
        work = tmp_path / "work"
        work.mkdir()
        with pytest.raises(ReadmeExampleError, match=r"README.md:15: .*\['open_bucket'\]"):
            run_readme_examples(_write(tmp_path, README), work)

    def test_undefined_name_is_refused_before_running(self, tmp_path: Path) -> None:
        """Undefined names are reported (sorted) before the block runs."""
        readme = _write(tmp_path, "```python\nprint('ran')\nwriter.append(df)\n```\n")
        with pytest.raises(ReadmeExampleError, match=r"README.md:1: .*\['df', 'writer'\]"):
            run_readme_examples(readme, tmp_path)

    def test_raising_block_names_its_line_and_error(self, tmp_path: Path) -> None:
        """An exception in a block names the README line of the block and the error."""
        readme = _write(tmp_path, "text\n\n```python\nx = 1\n```\n\n```python\n1 / 0\n```\n")
        with pytest.raises(ReadmeExampleError, match=r"README.md:7: .*ZeroDivisionError"):
            run_readme_examples(readme, tmp_path)

    def test_syntax_error_and_no_block_are_reported(self, tmp_path: Path) -> None:
        """A block that does not compile, and a README without python, fail clearly."""
        with pytest.raises(ReadmeExampleError, match="does not compile"):
            run_readme_examples(_write(tmp_path, "```python\ndef (:\n```\n"), tmp_path)
        with pytest.raises(ReadmeExampleError, match="no python block"):
            run_readme_examples(_write(tmp_path, "# nothing\n"), tmp_path)

    def test_blocks_do_not_inherit_the_runners_future_imports(self, tmp_path: Path) -> None:
        """Annotations stay objects, as in a reader's interpreter (pandera models read them)."""
        code = "class Model:\n    x: int = 1\n\nhints = Model.__annotations__\n"
        namespace = run_readme_examples(_write(tmp_path, f"```python\n{code}```\n"), tmp_path)
        assert namespace["hints"] == {"x": int}

    def test_compile_only_block_keeps_names_earlier_blocks_set(self, tmp_path: Path) -> None:
        """A compile-only block rebinding ``spark`` leaves the earlier value for later blocks."""
        text = (
            "```python\nspark = 'session'\n```\n\n"
            "<!-- example: compile-only (needs S3) -->\n"
            "```python\nspark = spark.with_s3()\n```\n"
        )
        namespace = run_readme_examples(_write(tmp_path, text), tmp_path)
        assert namespace["spark"] == "session"
