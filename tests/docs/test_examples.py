"""Every example the docs show runs, as a script, against a real server.

The pages include files from `docs_src/` (pymdownx.snippets, `--8<-- "page/file.py"`).
Each file runs here as `python file.py` with `DFLOCK_SERVERS` pointing at this
session's embedded server and a key prefix of its own; its `__main__` part exercises
what the page shows and fails (non-zero exit) when that does not work.
"""

import ast
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DOCS_SRC = ROOT / "docs_src"
RUN_TIMEOUT_S = 90
INCLUDE = re.compile(r'--8<--\s+"([^"]+?)(?::[\w-]+)?"')

EXAMPLES = sorted(DOCS_SRC.rglob("*.py"))


def included_files() -> set[Path]:
    found = set()
    for page in DOCS.glob("*.md"):
        for name in INCLUDE.findall(page.read_text(encoding="utf-8")):
            found.add((DOCS_SRC / name).resolve())
    return found


@pytest.mark.parametrize("example", EXAMPLES, ids=[str(p.relative_to(DOCS_SRC)) for p in EXAMPLES])
def test_example_runs(example, dflock_server):
    env = {
        **os.environ,
        "DFLOCK_SERVERS": dflock_server.address,
        "DFLOCK_KEY_PREFIX": f"docs-{uuid.uuid4().hex[:8]}.",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(example.parent), os.environ.get("PYTHONPATH")])
        ),
    }
    run = subprocess.run(
        [sys.executable, example.name],
        cwd=example.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert run.returncode == 0, f"{example.name} failed:\n{run.stdout}\n{run.stderr}"


def test_every_example_is_shown_and_every_include_exists():
    included = included_files()
    missing = sorted(str(p) for p in included if not p.exists())
    assert not missing, f"pages include files that do not exist: {missing}"
    unshown = sorted(str(p.relative_to(DOCS_SRC)) for p in EXAMPLES if p.resolve() not in included)
    assert not unshown, f"examples no page includes: {unshown}"


def test_inline_python_in_the_docs_at_least_compiles():
    """Fragments too short to run alone (a settings excerpt) must still be valid Python."""
    fence = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
    for page in sorted(DOCS.glob("*.md")):
        for number, block in enumerate(fence.findall(page.read_text(encoding="utf-8")), 1):
            try:
                compile(
                    block,
                    f"{page.name} block {number}",
                    "exec",
                    flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                )
            except SyntaxError as exc:
                pytest.fail(f"{page.name}, python block {number}: {exc}")
