"""Run a README's Python examples as written, in order, in one namespace (a package's tests).

A README is read top to bottom by a user who pastes its blocks into one interpreter: later
blocks use the names earlier ones defined (the quick start's ``spark``, its DataFrames). The
tests of each package run every ``python`` block of its README the same way, so an example
that uses an undefined name, a removed argument or a dependency the package does not install
fails that package's tests. ``nox -s readme`` separately runs the quick start in a fresh venv
installed with plain pip.

A block that cannot run in a test process (it needs a cloud bucket or a real cluster) is
marked on the line before its fence with ``<!-- example: compile-only (why) -->``: it is
compiled, and its names are still checked against what the blocks before it define.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)\s*$")
COMPILE_ONLY = "<!-- example: compile-only"


@dataclass(frozen=True)
class ReadmeExample:
    """One ``python`` block of a README.

    Attributes:
        code: The block's text.
        line: The README line its fence opens on (1-based).
        compile_only: Marked ``<!-- example: compile-only (why) -->``: compiled, not run.
    """

    code: str
    line: int
    compile_only: bool = False


class ReadmeExampleError(AssertionError):
    """A README example does not run as written (names the README line)."""


def readme_examples(readme: Path) -> list[ReadmeExample]:
    """Every ``python`` fenced block of ``readme``, in order.

    Args:
        readme: The README file.

    Returns:
        The blocks, with the line each starts on and whether it is compile-only.
    """
    lines = readme.read_text(encoding="utf-8").splitlines()
    examples: list[ReadmeExample] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != match["fence"]:
            end += 1
        if match["lang"] == "python":
            before = lines[index - 1].strip() if index else ""
            examples.append(
                ReadmeExample(
                    code="\n".join(lines[index + 1 : end]),
                    line=index + 1,
                    compile_only=before.startswith(COMPILE_ONLY),
                )
            )
        index = end + 1
    return examples


def _undefined_names(tree: ast.Module, known: set[str]) -> list[str]:
    """Names a block loads that neither it, the blocks before it, nor builtins define.

    Deliberately simple (a README block is flat code): any name bound anywhere in the block
    (assignment, import, def, class, loop or ``with`` target, function argument) counts as
    defined for the whole block.
    """
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    loaded = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    return sorted(loaded - bound - known - set(dir(builtins)))


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def run_readme_examples(readme: Path, workdir: Path) -> dict[str, Any]:
    """Run every ``python`` block of ``readme`` in order, in one namespace, inside ``workdir``.

    Args:
        readme: The README file.
        workdir: An empty folder: the working directory while the blocks run (relative paths
            in the examples land there).

    Returns:
        The namespace after the last block, for the test to assert on what the examples made.

    Raises:
        ReadmeExampleError: A block uses a name nothing before it defines, does not compile,
            or raises; the message names the README line.
    """
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    examples = readme_examples(readme)
    if not examples:
        raise ReadmeExampleError(f"{readme} has no python block")
    with _working_directory(workdir):
        for example in examples:
            where = f"{readme}:{example.line}"
            try:
                tree = ast.parse(example.code, filename=where)
            except SyntaxError as exc:
                raise ReadmeExampleError(f"{where}: the block does not compile: {exc}") from exc
            missing = _undefined_names(tree, set(namespace))
            if missing:
                raise ReadmeExampleError(
                    f"{where}: the block uses {missing}, which no earlier block defines; a "
                    f"reader pasting the README in order gets a NameError"
                )
            if example.compile_only:
                compile(tree, where, "exec", dont_inherit=True)
                # Later blocks may use what this one defines: known to the name check (as
                # None when new), while a name an earlier block set keeps its value.
                for name in _bound_names(tree):
                    namespace.setdefault(name, None)
                continue
            try:
                exec(compile(tree, where, "exec", dont_inherit=True), namespace)
            except Exception as exc:
                raise ReadmeExampleError(
                    f"{where}: the block raised {type(exc).__name__}: {exc}"
                ) from exc
    return namespace


def _bound_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        for target in ast.walk(node):
            if isinstance(target, ast.Name) and isinstance(target.ctx, ast.Store):
                names.add(target.id)
            elif isinstance(target, ast.alias):
                names.add((target.asname or target.name).split(".")[0])
            elif isinstance(target, (ast.FunctionDef, ast.ClassDef)):
                names.add(target.name)
    return names
