"""Every code block of the README and of docs/ runs as printed, in order.

Each `## ` section of a page runs after the blocks above the page's first section, in a
folder of its own laid out as a checkout after `make demo`
(out/castle-control.png, openapi.json, tests/data/bfl-openapi/), with the package's
commands on PATH and a state folder of its own. The README's Quickstart folder is made by
the demo itself (`make demo`'s recipe, `python -m flux_canny.demo`). The pages under docs/ say that the fake
runs and its two variables are set, so they get them; the README sets them itself, in its
Quickstart. `sh` blocks run in bash with `set -euo pipefail`, and what one exports the next
block sees (the README's `export`s reach its Python snippet); `python` blocks run as
scripts; `text` blocks are output and are not run. The `flux-canny` and the Python they
run are forks of a warm interpreter (`_warm.py`): the same code, without a second of
imports each.

An HTML comment on the line before a block tells how to run it:
- `<!-- not run: WHY -->`: a block that installs, changes your shell or serves until Ctrl-C;
- `<!-- needs: jq -->`: run where that program is installed;
- `<!-- exit status: N -->`: the block ends with status N (spec-diff's "something breaks");
- `<!-- in the background -->`: a server (mock-server), started, its printed URL awaited,
  stopped after the section. Its one liberty: `--port 8080` becomes a free port, and the
  page's later `http://127.0.0.1:8080` the URL it printed, so parallel runs never collide.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from flux_canny.fake import FakeBFL, FakeServer

from ..conftest import ROOT
from ._warm import client_source

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(
    r"(?:^<!--\s*(?P<directive>[^\n]*?)\s*-->\n)?^```(?P<language>[^\n]*)\n(?P<code>.*?)^```$",
    flags=re.DOTALL | re.MULTILINE,
)
SECTION = re.compile(r"^## (.+)$", flags=re.MULTILINE)
LANGUAGES = {"sh", "python", "text"}
DIRECTIVES = re.compile(r"not run: \S.*|needs: [\w-]+|exit status: \d+|in the background")
#: the exceptions stay few: each one is a block nobody checks
MOST_NOT_RUN = 12
DEMO_CONTROL = ROOT / "wrapper" / "flux_canny" / "samples" / "castle-control.png"
MOCK_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    section: str
    language: str
    code: str
    directive: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.language != "text" and not self.directive.startswith("not run:")


def _blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    sections = [(found.start(), found[1]) for found in SECTION.finditer(text)]
    return [
        Block(
            page,
            text.count("\n", 0, found.start("code")),
            next((title for start, title in reversed(sections) if start < found.start()), ""),
            found["language"].strip(),
            found["code"],
            found["directive"] or "",
        )
        for found in BLOCK.finditer(text)
    ]


ALL_BLOCKS = [block for page in PAGES for block in _blocks(page)]


def _units() -> list[tuple[Path, str]]:
    """A page's sections run apart (in parallel under xdist), each after the page's
    preamble; a page whose only runnable blocks are its preamble runs as one."""
    units: set[tuple[Path, str]] = set()
    for page in PAGES:
        sections = {block.section for block in _blocks(page) if block.runs}
        units |= {(page, section) for section in sections if section or sections == {""}}
    return sorted(units)


UNITS = _units()


def test_every_block_says_what_it_is_and_the_exceptions_stay_few():
    assert len(ALL_BLOCKS) >= 30
    for block in ALL_BLOCKS:
        assert block.language in LANGUAGES, f"{block}: a block of {block.language!r}"
        assert not block.directive or DIRECTIVES.fullmatch(block.directive), str(block)
    not_run = [block for block in ALL_BLOCKS if block.directive.startswith("not run:")]
    assert len(not_run) <= MOST_NOT_RUN, [str(block) for block in not_run]


@pytest.fixture(scope="module")
def warm_bin():
    """A folder with `flux-canny` and `python-snippet`, each a fork of a warm interpreter."""
    folder = Path(tempfile.mkdtemp(prefix="flux-canny-docs-"))  # short: a socket's path
    socket_path = str(folder / "warm.sock")
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_warm.py")), socket_path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        for program in ("flux-canny", "python-snippet"):
            script = folder / program
            script.write_text(client_source(sys.executable, socket_path, program))
            script.chmod(0o755)
        yield folder
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def fake_api():
    with FakeServer(FakeBFL(task_duration=0.1)) as server:
        yield server


def _checkout(folder: Path, env: dict[str, str], *, demo: bool) -> None:
    """What the pages assume: a checkout in which `make demo` ran. The README, whose
    Quickstart starts with `make demo`, gets the demo itself (the target's recipe)."""
    shutil.copyfile(ROOT / "openapi.json", folder / "openapi.json")
    (folder / "tests" / "data").mkdir(parents=True)
    (folder / "tests" / "data" / "bfl-openapi").symlink_to(ROOT / "tests" / "data" / "bfl-openapi")
    if not demo:
        (folder / "out").mkdir()
        shutil.copyfile(DEMO_CONTROL, folder / "out" / "castle-control.png")
        return
    ran = subprocess.run(
        [sys.executable, "-m", "flux_canny.demo"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    image = ran.stdout.splitlines()[-1]
    assert image.startswith("out/demo-") and (folder / image).is_file(), ran.stdout
    assert (folder / "out" / "castle-control.png").read_bytes() == DEMO_CONTROL.read_bytes()


def _environment(folder: Path, fake: FakeServer | None, warm: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("BFL_")}
    path = os.pathsep.join([str(warm), str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PATH"] = path
    env["FLUX_CANNY_STATE_DIR"] = str(folder / "state")
    env["NO_COLOR"] = "1"
    if fake is not None:
        env["BFL_API_KEY"] = "test-key"
        env["BFL_BASE_URL"] = fake.base_url
    return env


def _run_sh(block: Block, code: str, folder: Path, env: dict[str, str]) -> dict[str, str]:
    """Run one sh block; what it exported is the next block's environment."""
    exported = folder / ".exported"
    script = f"trap 'env -0 > {shlex.quote(str(exported))}' EXIT\nset -euo pipefail\n{code}"
    ran = subprocess.run(
        ["bash", "-c", script],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    expected = int(block.directive.split(":")[1]) if block.directive.startswith("exit") else 0
    assert ran.returncode == expected, f"{block} exited {ran.returncode}:\n{code}\n{ran.stderr}"
    pairs = exported.read_bytes().decode().split("\0")
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def _run_python(block: Block, code: str, folder: Path, env: dict[str, str]) -> None:
    script = folder / f"snippet_{block.line}.py"
    script.write_text(code, encoding="utf-8")
    ran = subprocess.run(
        ["python-snippet", script.name],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, f"{block}:\n{block.code}\n{ran.stderr}"


def _start(block: Block, folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """A server block, on a free port; the URL it printed replaces the page's 8080 one."""
    code = block.code.replace("--port 8080", "--port 0")
    # the real command, not a fork of the warm one: stopping it must stop the server
    env = {**env, "PATH": env["PATH"].split(os.pathsep, 1)[1]}
    server = subprocess.Popen(
        ["bash", "-c", f"exec {code.strip().splitlines()[0].split('#')[0]}"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), f"{block} printed {url!r}"
    return server, url


@pytest.mark.parametrize(
    ("page", "section"), UNITS, ids=[f"{p.relative_to(ROOT)}#{s}" for p, s in UNITS]
)
def test_each_sections_snippets_run_as_printed(page, section, fake_api, warm_bin, tmp_path):
    env = _environment(tmp_path, None if page == README else fake_api, warm_bin)
    _checkout(tmp_path, env, demo=(page, section) == (README, "Quickstart"))
    servers: list[subprocess.Popen[str]] = []
    mock_url = MOCK_URL
    try:
        for block in _blocks(page):
            if not block.runs or block.section not in ("", section):
                continue
            needs = block.directive.removeprefix("needs:").strip()
            if block.directive.startswith("needs:") and shutil.which(needs) is None:
                continue
            code = block.code.replace(MOCK_URL, mock_url)
            if block.directive == "in the background":
                server, mock_url = _start(block, tmp_path, env)
                servers.append(server)
            elif block.language == "sh":
                env = _run_sh(block, code, tmp_path, env)
            else:
                _run_python(block, code, tmp_path, env)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)


def test_the_readme_says_the_seeds_endpoint_is_gone_and_the_docs_say_how_to_check():
    readme = README.read_text(encoding="utf-8")
    assert "no longer publishes `POST /v1/flux-pro-1.0-canny-finetuned`" in readme
    endpoints = (ROOT / "docs" / "endpoints.md").read_text(encoding="utf-8")
    assert "flux-canny spec-diff openapi.json tests/data/bfl-openapi/08-" in endpoints


def _anchor(title: str) -> str:
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def test_the_readme_is_short_and_its_first_screen_leads_to_a_newcomers_five_tasks():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200
    first_screen = "\n".join(lines[:15])
    anchors = {_anchor(line.lstrip("#").strip()) for line in lines if line.startswith("#")}
    tasks = ["1-the-demo", "2-one-image-from-the-command-line-against-the-fake", "3-a-batch"]
    tasks += ["4-one-image-from-python", "checking-a-new-spec"]
    for task in tasks:
        assert f"(#{task})" in first_screen and task in anchors, task


def test_the_readmes_links_into_the_docs_lead_somewhere():
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", README.read_text(encoding="utf-8"))
    assert len(set(links)) >= 8
    for link in links:
        assert (ROOT / link).is_file(), link


def test_the_path_instructions_work_in_a_new_shell():
    venv = Path(sys.executable).parent.parent
    if not (venv / "bin" / "activate").exists():
        pytest.skip("not running from a virtual environment")
    shown = subprocess.run(
        ["bash", "-c", f"source {venv}/bin/activate && flux-canny --version"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert shown.returncode == 0 and shown.stdout.startswith("flux-canny ")
    home = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert "source .venv/bin/activate" in home and ".venv/bin/flux-canny --help" in home
