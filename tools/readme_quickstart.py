"""Run a README's quick start as written, the way a new user would (``nox -s readme``).

A README marks its quick-start code blocks with an HTML comment (invisible on GitHub and on the
docs site) on the line before the fence::

    <!-- quickstart -->
    ```bash
    pip install "schema-registry[spark]"
    ```

The fence's language says what the block is:

- ``bash`` / ``console`` / ``sh`` with a ``pip install`` line: the install line. It is not run as
  is: ``install-args`` prints pip's arguments with each of our distributions replaced by its
  freshly built wheel (extras kept), so the requirements the README names are what gets installed.
- ``python``: run. Consecutive python blocks form one script (later blocks use names the earlier
  ones defined), run in an empty working folder with the venv's interpreter.
- ``bash`` / ``sh`` / ``console`` otherwise: run with ``bash -e`` and the venv's ``bin`` first
  on ``PATH`` (``$`` prompts are stripped).
- ``text``: the printed output of the blocks before it. Standard output of all run blocks is
  compared with all ``text`` blocks, line by line (trailing spaces ignored): a line that is just
  ``...`` matches any number of lines, and ``...`` inside a line matches any text (run ids,
  times).

Usage::

    python tools/readme_quickstart.py install-args README.md --wheel NAME=PATH ...
    python tools/readme_quickstart.py run README.md --venv DIR --workdir DIR

Standard library only: it runs with whatever Python starts it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "<!-- quickstart -->"
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)\s*$")
_SHELLS = {"bash", "sh", "shell", "console"}
_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?(?P<spec>.*)$"
)


@dataclass
class Block:
    """One marked fenced block: its language, its text and the README line it starts on."""

    lang: str
    code: str
    line: int


@dataclass
class Quickstart:
    """A README's marked blocks, by role."""

    install: list[str] = field(default_factory=list)  # pip install arguments, as written
    steps: list[Block] = field(default_factory=list)  # python / shell blocks to run, in order
    expected: list[str] | None = None  # printed output shown, when the README shows some


def parse(text: str) -> Quickstart:
    """Collect the blocks marked ``<!-- quickstart -->`` of a README.

    Raises:
        ValueError: a marker is not followed by a fenced block, a fence is not closed, or a
            ``text`` block comes before anything that prints it.
    """
    lines = text.splitlines()
    quickstart = Quickstart()
    index = 0
    while index < len(lines):
        if lines[index].strip() != MARKER:
            index += 1
            continue
        start = index + 1
        match = _FENCE.match(lines[start]) if start < len(lines) else None
        if match is None:
            raise ValueError(
                f"line {index + 1}: {MARKER} must be directly followed by a code fence"
            )
        end = start + 1
        while end < len(lines) and not lines[end].startswith(match["fence"]):
            end += 1
        if end == len(lines):
            raise ValueError(f"line {start + 1}: code fence never closed")
        block = Block(match["lang"].lower(), "\n".join(lines[start + 1 : end]), start + 1)
        _classify(quickstart, block)
        index = end + 1
    if not quickstart.install:
        raise ValueError(f"no {MARKER} block with a 'pip install' line")
    if not quickstart.steps:
        raise ValueError(f"no {MARKER} python or shell block to run")
    return quickstart


def _classify(quickstart: Quickstart, block: Block) -> None:
    if block.lang == "text":
        if not quickstart.steps:
            raise ValueError(f"line {block.line}: output shown before any block that prints it")
        quickstart.expected = (quickstart.expected or []) + block.code.splitlines()
        return
    if block.lang in _SHELLS:
        commands = [line.strip().removeprefix("$ ") for line in block.code.splitlines()]
        installs = [c for c in commands if c.startswith("pip install ")]
        if installs:
            for command in installs:
                words = shlex.split(command, comments=True)[2:]
                quickstart.install += words
            return
    if block.lang not in _SHELLS | {"python", "py"}:
        raise ValueError(f"line {block.line}: cannot run a '{block.lang or 'plain'}' block")
    quickstart.steps.append(block)


def install_args(quickstart: Quickstart, wheels: dict[str, str]) -> list[str]:
    """The README's pip install arguments, our distributions replaced by their built wheels."""
    args = []
    for word in quickstart.install:
        match = _REQUIREMENT.match(word)
        name = match["name"].lower().replace("_", "-") if match else None
        if match and name in wheels:
            uri = Path(wheels[name]).resolve().as_uri()
            args.append(f"{name}{match['extras'] or ''} @ {uri}")
            if match["spec"].strip():
                raise ValueError(f"{word!r}: a version constraint on our own distribution")
        else:
            args.append(word)
    return args


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` lines fit ``expected`` lines (``...`` wildcards, see module doc)."""
    exp = [line.rstrip() for line in expected]
    act = [line.rstrip() for line in actual]
    # Trailing blank lines are not output anyone reads.
    while exp and not exp[-1]:
        exp.pop()
    while act and not act[-1]:
        act.pop()

    def line_fits(pattern: str, line: str) -> bool:
        if "..." not in pattern:
            return pattern == line
        regex = ".*".join(re.escape(part) for part in pattern.split("..."))
        return re.fullmatch(regex, line) is not None

    memo: dict[tuple[int, int], bool] = {}

    def fits(i: int, j: int) -> bool:
        if (i, j) not in memo:
            if i == len(exp):
                result = j == len(act)
            elif exp[i] == "...":
                result = any(fits(i + 1, k) for k in range(j, len(act) + 1))
            else:
                result = j < len(act) and line_fits(exp[i], act[j]) and fits(i + 1, j + 1)
            memo[(i, j)] = result
        return memo[(i, j)]

    return fits(0, 0)


def run(quickstart: Quickstart, venv: Path, workdir: Path) -> list[str]:
    """Run the steps in ``workdir`` with the venv's tools; return standard output's lines.

    Raises:
        RuntimeError: a step exited with an error (its output is printed first).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env.pop("PYTHONPATH", None)
    groups: list[list[Block]] = []
    for block in quickstart.steps:
        is_python = block.lang in {"python", "py"}
        if groups and is_python and groups[-1][0].lang in {"python", "py"}:
            groups[-1].append(block)
        else:
            groups.append([block])
    output: list[str] = []
    for number, group in enumerate(groups, start=1):
        lines = f"README lines {group[0].line}-{group[-1].line + group[-1].code.count(chr(10)) + 1}"
        if group[0].lang in {"python", "py"}:
            script = workdir / f"quickstart_{number}.py"
            script.write_text("\n\n".join(block.code for block in group) + "\n")
            command = [str(venv / "bin" / "python"), script.name]
        else:
            code = "\n".join(line.removeprefix("$ ") for line in group[0].code.splitlines())
            command = ["bash", "-e", "-c", code]
        print(f"--- running {lines}: {' '.join(command)}", flush=True)
        done = subprocess.run(
            command, cwd=workdir, env=env, stdout=subprocess.PIPE, text=True, check=False
        )
        sys.stdout.write(done.stdout)
        sys.stdout.flush()
        if done.returncode != 0:
            raise RuntimeError(f"{lines} exited with code {done.returncode}")
        output += done.stdout.splitlines()
    return output


def main(argv: list[str] | None = None) -> int:
    """Command line: ``install-args`` or ``run`` (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_install = sub.add_parser("install-args")
    p_install.add_argument("readme", type=Path)
    p_install.add_argument("--wheel", action="append", default=[], metavar="NAME=PATH")
    p_run = sub.add_parser("run")
    p_run.add_argument("readme", type=Path)
    p_run.add_argument("--venv", type=Path, required=True)
    p_run.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        quickstart = parse(args.readme.read_text(encoding="utf-8"))
    except ValueError as exc:
        print(f"{args.readme}: {exc}", file=sys.stderr)
        return 2
    if args.command == "install-args":
        wheels = dict(item.split("=", 1) for item in args.wheel)
        print(json.dumps(install_args(quickstart, wheels)))
        return 0
    try:
        output = run(quickstart, args.venv.resolve(), args.workdir.resolve())
    except RuntimeError as exc:
        print(f"{args.readme}: quick start failed: {exc}", file=sys.stderr)
        return 1
    if quickstart.expected is not None and not matches(quickstart.expected, output):
        print(
            f"{args.readme}: the quick start printed something else than the README shows.\n"
            "README shows:\n" + "\n".join(quickstart.expected) + "\nprinted:\n" + "\n".join(output),
            file=sys.stderr,
        )
        return 1
    shown = "compared with the README's output" if quickstart.expected else "no output shown"
    print(f"{args.readme}: quick start ran ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
