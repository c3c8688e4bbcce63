"""Every fenced code block of README.md and docs/*.md runs as written, from an empty folder
(issue 19: "every documented line runnable").

Each page gets one empty working folder; its blocks run there in page order, so that files one
block writes (a spec, a point log) are there for the next, but every Python block is a process
of its own: it imports what it uses. How each language runs:

- ``python``: ``python BLOCK.py`` in the page's folder; a block whose first line is
  ``# FILE.py: ...`` is a file instead, written to FILE.py for the blocks after it to run.
- ``yaml``: a Cobaya input (``theory`` or ``likelihood`` at the top) is run by Cobaya once with
  ``sampler: evaluate`` (whatever sampler it names: one point, not a chain) and the shared
  likelihood data as ``packages_path``; an emulator spec (``parameters`` and ``outputs``) is
  read and validated by ``zelos.load_spec`` (no build); any other YAML must parse, and one
  whose first line is ``# FILE.yaml: ...`` is written to FILE.yaml for the blocks after it.
- ``bash``/``sh``/``console``/``shell``: the block is one bash script (``set -e``; in a
  ``console`` block only the ``$ `` lines are commands), with ``zelos`` and ``python`` the ones
  under test, HOME, the hub cache and ``ZELOS_HUB`` (a folder hub holding the shipped
  emulators) inside the test's folders, and ``COBAYA_PACKAGES_PATH`` the shared data. Commands
  in SKIP_COMMANDS are not run (each with its reason).
- Other languages (``c``, ``fortran``, ``julia``, ``rust``, ``json``, ``text``, a bare fence)
  are not run here: see SKIP_LANGUAGES.

A block preceded by ``<!-- doc-test: skip (reason) -->`` is skipped with that reason: a skip is
always stated in the page, next to the block, or in the tables below.
"""

from __future__ import annotations

import doctest
import glob
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass

import pytest
import yaml

import zelos
from zelos.shipped import shipped_archive

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
PAGES = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
TIMEOUT = 300  # seconds per block: a hung block fails instead of holding the suite

SKIP_LANGUAGES = {
    "": "a bare fence: a diagram, a layout or a transcript",
    "text": "text: output, messages, layouts",
    "json": "a file format (JSON)",
    "c": "C: tests/capi.rs compiles and runs the C API",
    "fortran": "Fortran: tests/capi.rs compiles and runs examples/fortran",
    "julia": "Julia: run where Julia is installed (docs/c-api.md)",
    "rust": "Rust: the crate's own tests (tests/*.rs) cover its API",
}
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
RUN_LANGUAGES = SHELL_LANGUAGES | {"python", "yaml"}

# Commands never run from a doc block, wherever they appear (a regex on the command's start).
SKIP_COMMANDS = [
    (r"pip install\b", "installs packages into the running environment"),
    (r"make\b", "the repository's make targets run from its clone, for minutes"),
    (r"cobaya-install\b", "downloads likelihood data over the network"),
    (r"(mpirun|mpiexec)\b", "an MPI chain: tests/python/test_cobaya_mpi.py runs one"),
]

# Blocks that fail as written on pages being rewritten elsewhere (issue 19), each with what fails:
# expected failures until then; a block here that passes fails the test, so that its entry goes.
# Keyed by the page and a piece of the block's text (line numbers move as pages change).
KNOWN_FAILURES = [
]

# Optional dependencies (extras): a block that imports one that is not installed is skipped.
NEEDS = {"zelos.jax": "jax", "zelos.torch": "torch", "zelos.tf": "tensorflow"}  # zelos modules on extras
OPTIONAL = {"jax", "camb", "cobaya", "classy", "torch", "tensorflow", "cosmopower_jax", "mpi4py", "dask"}

MARKER = re.compile(r"<!--\s*doc-test:(.*?)-->")
SKIP_MARKER = re.compile(r"\s*skip\s*\((.+)\)\s*", re.S)
FENCE = re.compile(r"^( *)(`{3,})\s*([\w+-]*)\s*$")


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    skip: str | None  # the reason given by a doc-test marker

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line} (```{self.lang} block)"


def read_blocks(page: str) -> list:
    """The fenced blocks of ``page`` in order, with the skip marker just before each."""
    lines = open(os.path.join(ROOT, page), encoding="utf-8").read().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = len(m.group(1)), m.group(2), m.group(3).lower()
        body, j = [], i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        if j == len(lines):
            raise AssertionError(f"{page}:{i + 1}: the block opened here is never closed")
        blocks.append(Block(page, i + 1, lang, "\n".join(body) + "\n", marker_before(lines, i, page)))
        i = j + 1
    return blocks


def marker_before(lines, i, page):
    """The reason of a ``<!-- doc-test: skip (reason) -->`` on the last non-blank line before
    line ``i``; a doc-test marker that is not of this form is an error."""
    k = i - 1
    while k >= 0 and not lines[k].strip():
        k -= 1
    m = MARKER.search(lines[k]) if k >= 0 else None
    if not m:
        return None
    skip = SKIP_MARKER.fullmatch(m.group(1))
    if not skip:
        raise AssertionError(f"{page}:{k + 1}: doc-test marker `{m.group(0)}`: expected "
                             "`<!-- doc-test: skip (reason) -->`")
    return skip.group(1).strip()


BLOCKS = [b for page in PAGES for b in read_blocks(page)]


# ---- running a page's blocks ---------------------------------------------------------------


class Page:
    """A page's working folder and the outcome of each of its blocks run so far (in order)."""

    def __init__(self, page, base, env):
        self.blocks = [b for b in BLOCKS if b.page == page]
        self.dir = os.path.join(base, "work")
        self.scripts = os.path.join(base, "scripts")
        os.makedirs(self.dir)
        os.makedirs(self.scripts)
        self.env = env
        self.outcomes = []  # (kind, message): kind "ok", "skip" or "fail"

    def outcome(self, index):
        """Runs the page's blocks up to ``index`` (those not yet run) and returns its outcome."""
        while len(self.outcomes) <= index:
            b = self.blocks[len(self.outcomes)]
            try:
                self.outcomes.append(run_block(b, self))
            except Exception as e:  # noqa: BLE001 - reported as this block's failure
                self.outcomes.append(("fail", f"{type(e).__name__}: {e}"))
        return self.outcomes[index]

    def script(self, block, suffix, text):
        path = os.path.join(self.scripts, f"line{block.line}{suffix}")
        with open(path, "w") as f:
            f.write(text)
        return path

    def run(self, block, args, timeout=TIMEOUT):
        r = subprocess.run(args, cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            return "fail", (f"{' '.join(map(shlex.quote, args))} exited with {r.returncode} in {self.dir}\n"
                            f"--- stdout (end)\n{r.stdout[-3000:]}\n--- stderr (end)\n{r.stderr[-5000:]}")
        return "ok", r.stdout


def run_block(b: Block, page: Page):
    if b.skip:
        return "skip", f"{b.where}: {b.skip}"
    if b.lang not in RUN_LANGUAGES:
        if b.lang in SKIP_LANGUAGES:
            return "skip", f"{b.where}: {SKIP_LANGUAGES[b.lang]}"
        return "fail", (f"{b.where}: no rule for language `{b.lang}`: add it to SKIP_LANGUAGES "
                        "or mark the block `<!-- doc-test: skip (reason) -->`")
    if b.lang == "python":
        missing = missing_optional(b.text)
        if missing:
            return "skip", f"{b.where}: needs {', '.join(missing)}, not installed (an optional dependency)"
        named = re.match(r"#\s*([\w.-]+\.py):", b.text)
        if named:  # `# reader.py: ...`: a file the page's later blocks run
            with open(os.path.join(page.dir, named.group(1)), "w") as f:
                f.write(b.text)
            return "ok", ""
        return page.run(b, [sys.executable, page.script(b, ".py", b.text)])
    if b.lang == "yaml":
        return run_yaml(b, page)
    return run_shell(b, page)


def missing_optional(code: str) -> list:
    """The optional dependencies the code's import lines name that are not installed."""
    imported = set()
    for line in re.findall(r"^\s*(?:import|from)\s+(.+)$", code, re.M):
        imported |= {NEEDS.get(word, word.split(".")[0]) for word in re.findall(r"[\w.]+", line)}
    return sorted(m for m in imported & OPTIONAL if importlib.util.find_spec(m) is None)


COBAYA_EVALUATE = """\
import sys, yaml
from cobaya.run import run

with open(sys.argv[1]) as f:
    info = yaml.safe_load(f)
info["packages_path"] = sys.argv[2]
info["sampler"] = {"evaluate": None}  # one point, whatever sampler the block names
updated, sampler = run(info)
print("logposterior", sampler.products()["sample"]["minuslogpost"].values * -1)
"""

SPEC_CHECK = """\
import sys, zelos
spec = zelos.load_spec(sys.argv[1])
print(spec["name"], "valid:", ", ".join(spec["parameters"]))
"""


def run_yaml(b: Block, page: Page):
    try:
        data = yaml.safe_load(b.text)
    except yaml.YAMLError as e:
        return "fail", f"{b.where}: not valid YAML: {e}"
    if isinstance(data, dict) and ("theory" in data or "likelihood" in data):
        if importlib.util.find_spec("cobaya") is None:
            return "skip", f"{b.where}: needs cobaya, not installed (an optional dependency)"
        if not os.path.isdir(os.path.join(PACKAGES, "data", "bao_data")):
            return "skip", f"{b.where}: the likelihood data are not at {PACKAGES} (see ../shared/data/README.md)"
        path = page.script(b, ".cobaya.yaml", b.text)
        return page.run(b, [sys.executable, page.script(b, "_cobaya.py", COBAYA_EVALUATE), path, PACKAGES])
    if isinstance(data, dict) and "parameters" in data and "outputs" in data:
        path = os.path.join(page.dir, f"{data.get('name', 'spec')}.yaml")  # relative files: beside it
        with open(path, "w") as f:
            f.write(b.text)
        return page.run(b, [sys.executable, page.script(b, "_spec.py", SPEC_CHECK), path])
    m = re.match(r"#\s*([\w.-]+\.ya?ml):", b.text)
    if m:  # `# ranges.yaml: ...`: a file the page's later blocks use
        with open(os.path.join(page.dir, m.group(1)), "w") as f:
            f.write(b.text)
    return "ok", ""


def shell_commands(b: Block) -> list:
    """The block's commands, each with its continuation lines (ending in `\\`); blank and
    comment lines dropped. In a console block only the `$ ` lines are commands: the rest is
    their output."""
    commands, continued = [], False
    for line in b.text.splitlines():
        if continued:
            commands[-1] += "\n" + line
        elif b.lang == "console":
            if not line.startswith("$ "):
                continue
            commands.append(line[2:])
        elif line.strip() and not line.lstrip().startswith("#"):
            commands.append(line)
        else:
            continue
        continued = line.endswith("\\")
    return commands


def run_shell(b: Block, page: Page):
    script, skipped = ["set -eo pipefail"], []
    for cmd in shell_commands(b):
        bare = re.sub(r"^\s*(\w+=\S*\s+)*", "", cmd)  # without `VAR=value` prefixes
        reason = next((r for pat, r in SKIP_COMMANDS if re.match(pat, bare)), None)
        if reason:
            skipped.append(f"`{cmd.split(chr(10))[0]}`: {reason}")
            script.append(": skipped")
        else:
            script.append(cmd)
    if len(skipped) == len(script) - 1:
        return "skip", f"{b.where}: every command is skipped: " + "; ".join(skipped)
    kind, msg = page.run(b, ["bash", page.script(b, ".sh", "\n".join(script) + "\n")])
    if kind == "ok" and skipped:
        print(f"{b.where}: not run: " + "; ".join(skipped))
    return kind, msg


# ---- the environment of the blocks ---------------------------------------------------------


@pytest.fixture(scope="session")
def doc_env(tmp_path_factory):
    """Environment variables for the blocks: `zelos` and `python` are the ones under test, HOME
    and the hub cache are the test's, ZELOS_HUB a folder hub with the shipped emulators, and no
    other ZELOS_* setting of the caller leaks in."""
    base = tmp_path_factory.mktemp("doc_env")
    bin_dir, home, hub = base / "bin", base / "home", base / "hub"
    for d in (bin_dir, home, hub):
        d.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    (bin_dir / "zelos").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m zelos "$@"\n')
    (bin_dir / "python3").write_text((bin_dir / "python").read_text())
    for f in ("python", "python3", "zelos"):
        (bin_dir / f).chmod(0o755)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(zelos.__file__)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZELOS_")}
    env.update(
        PATH=os.pathsep.join([str(bin_dir), os.path.dirname(sys.executable), env.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join(p for p in [package_parent, env.get("PYTHONPATH")] if p),
        HOME=str(home), ZELOS_CACHE=str(base / "cache"), ZELOS_HUB=str(hub),
        COBAYA_PACKAGES_PATH=PACKAGES, MPLBACKEND="Agg",
    )
    for name in ("CAMB_LCDM_linear_Pk", "CAMB_LCDM_background"):
        zelos.hub.publish(shipped_archive(name), hub)
    return env


@pytest.fixture(scope="session")
def pages(tmp_path_factory, doc_env):
    made = {}

    def get(page):
        if page not in made:
            made[page] = Page(page, str(tmp_path_factory.mktemp("doc_" + re.sub(r"\W", "_", page))), doc_env)
        return made[page]

    return get


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.page}:{b.line}" for b in BLOCKS])
def test_block_runs_as_written(block, pages):
    page = pages(block.page)
    kind, message = page.outcome(page.blocks.index(block))
    if kind == "skip":
        pytest.skip(message)
    known = next((why for p, piece, why in KNOWN_FAILURES if p == block.page and piece in block.text), None)
    if known and kind == "fail":
        pytest.xfail(f"{block.where}: known to fail as written: {known}")
    assert not known, f"{block.where} now runs as written: delete its KNOWN_FAILURES entry"
    assert kind == "ok", f"{block.where} fails as written:\n{message}"


def test_every_block_is_found_and_every_skip_has_a_reason():
    """The extractor sees the pages' blocks (a fence it missed would silently go untested), and
    every doc-test marker sits just before a block (one elsewhere would skip nothing)."""
    for page in PAGES:
        text = open(os.path.join(ROOT, page), encoding="utf-8").read()
        blocks = [b for b in BLOCKS if b.page == page]
        fences = sum(1 for l in text.splitlines() if FENCE.match(l))
        assert 2 * len(blocks) == fences, f"{page}: {fences} fence lines for {len(blocks)} blocks"
        markers = len(MARKER.findall(text))
        assert markers == len([b for b in blocks if b.skip]), f"{page}: a doc-test marker is not just before a block"
    assert len([b for b in BLOCKS if b.lang in RUN_LANGUAGES and not b.skip]) >= 20


def test_the_package_docstring_examples_run():
    """`help(zelos)` opens with examples: they run, and print what they show."""
    test = doctest.DocTestParser().get_doctest(zelos.__doc__, {}, "zelos", zelos.__file__, 0)
    assert test.examples, "the package docstring has no examples"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
