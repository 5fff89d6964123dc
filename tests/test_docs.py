"""Every command the README and the pages under docs/ show works as written, and every link between them resolves.

The examples in Python run in `test_estimators.py` (README's five lines, docs/own-data.md's longer one) and a bare
`run.py` is checked in `test_faults.py`. Here, cheaply, for every page: each `make` line is one the Makefile
accepts (`make -n`, nothing runs), each `python -m mixnam.<module>` names a module that exists, each `run.py` line
composes through Hydra with its overrides as written, each script named exists, and each relative link (and its
#anchor) points at a file (and a heading) that is there.
"""
from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess

import pytest
from hydra import compose, initialize_config_dir

from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_lines(page) -> list[str]:
    """The shell lines a page shows: indented blocks (continuations joined) and inline code spans."""
    text = page.read_text()
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # fenced blocks are Python, run elsewhere
    joined = []
    for line in text.split("\n"):
        if line.startswith("    "):
            if joined and joined[-1].endswith("\\"):
                joined[-1] = joined[-1][:-1] + " " + line.strip()
            else:
                joined.append(line.strip())
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"\n(?!\n)", " ", text))
    return [re.sub(r"\s+#.*$", "", line).strip() for line in joined] + spans


def commands(prefix: str) -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for line in code_lines(page):
            line = re.sub(r"^(sudo |\.venv/bin/)", "", line)
            if line.startswith(prefix):
                found.append((page.relative_to(ROOT).as_posix(), line))
    return sorted(set(found))


MAKE = commands("make ")
MODULES = commands("python -m mixnam")
RUNS = [(page, line) for page, line in commands("python run.py")
        if not re.search(r"<|\.\.\.|\||\[", line)]  # placeholders (<m>, ..., a|b, [optional]) are prose


def test_the_pages_show_commands_at_all():
    assert len(MAKE) >= 10 and len(MODULES) >= 5 and len(RUNS) >= 8


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("page,line", MAKE)
def test_every_make_line_is_one_the_makefile_accepts(page, line):
    words = [w for w in shlex.split(re.sub(r"\[[^\]]*\]", "", line)) if w != "make"]
    dry = subprocess.run(["make", "-n", "-C", str(ROOT), *words], capture_output=True, text=True, timeout=60,
                         check=False)
    assert dry.returncode == 0, f"{page}: `{line}`\n{dry.stderr}"


@pytest.mark.parametrize("page,line", MODULES)
def test_every_python_module_shown_exists(page, line):
    module = line.split()[2]
    assert importlib.util.find_spec(module) is not None, f"{page}: `{line}` names no module"


@pytest.mark.parametrize("page,line", RUNS)
def test_every_run_py_line_composes_as_written(page, line):
    overrides = [w for w in shlex.split(line)[2:] if w != "-m"]
    if "-m" in line.split():  # a sweep: compose its first job
        overrides = [w.split(",")[0] if "=" in w and not w.startswith("hydra.") else w for w in overrides]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        compose("config", overrides=overrides, return_hydra_config=True)


def test_every_script_named_exists():
    named = {m for page in PAGES for m in re.findall(r"scripts/[\w.]+\.(?:sh|py)", page.read_text())}
    assert named and all((ROOT / script).is_file() for script in named), sorted(named)


def slug(heading: str) -> str:
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower()))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(page):
    for target, anchor in re.findall(r"\]\((?!https?:)([^)#\s]+)(?:#([^)\s]+))?\)", page.read_text()):
        path = (page.parent / target).resolve()
        assert path.exists(), f"{page.name}: link to {target}"
        if anchor:
            headings = {slug(h) for h in re.findall(r"^#+ (.*)$", path.read_text(), flags=re.MULTILINE)}
            assert anchor in headings, f"{page.name}: {target}#{anchor} has no such heading"
