"""#16: what a new user tripped over, each through the command or the library as used."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import httpx
import pytest
from flux_canny import FluxCanny
from flux_canny.cli import _exit
from PIL import Image

from .conftest import GEN
from .test_cli_entry import SCRIPT


def test_a_missing_required_option_is_clicks_own_message(run, fake):
    for missing, flag in (
        ("--prompt 'a castle'", "--prompt"),
        ("--finetune-id my-finetune", "--finetune-id"),
    ):
        ran = run(GEN.replace(missing, ""))
        assert ran.code == _exit.EXIT_BAD_INPUT and f"Missing option '{flag}'" in ran.err
        assert "TypeError" not in ran.err and not fake.records


def test_bare_flux_canny_prints_its_help_and_python_m_works():
    bare = subprocess.run([str(SCRIPT)], capture_output=True, text=True, check=False)
    assert bare.returncode == 0 and bare.stdout.startswith("Usage: flux-canny")
    assert "\n  generate" in bare.stdout and "error" not in bare.stderr
    module = subprocess.run(
        [sys.executable, "-m", "flux_canny", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert module.returncode == 0 and module.stdout.startswith("flux-canny ")


def test_the_library_honours_bfl_base_url(monkeypatch):
    monkeypatch.setenv("BFL_BASE_URL", "http://127.0.0.1:9")
    with FluxCanny(api_key="k", ledger=False) as flux:
        assert repr(flux) == "FluxCanny(base_url='http://127.0.0.1:9')"
    monkeypatch.setenv("BFL_BASE_URL", "localhost:8080")
    with pytest.raises(ValueError, match="BFL_BASE_URL must be an http"):
        FluxCanny(api_key="k")


def test_a_scheme_less_base_url_is_bad_input_naming_the_variable(run, monkeypatch):
    monkeypatch.setenv("BFL_BASE_URL", "localhost:8080")
    ran = run("finetunes")
    assert ran.code == _exit.EXIT_BAD_INPUT and "BFL_BASE_URL" in ran.err
    assert "ValueError" not in ran.err


def test_an_unreachable_api_names_the_address_tried(run, monkeypatch, wire_cli):

    def refuse(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    from flux_canny.fake import VirtualClock

    options = {"transport": httpx.MockTransport(refuse), "clock": VirtualClock()}  # no real waits
    wire_cli(**options)
    monkeypatch.setenv("BFL_BASE_URL", "http://127.0.0.1:9")
    ran = run("finetunes")
    assert "could not connect to http://127.0.0.1:9/v1/my_finetunes" in ran.err
    assert "BFL_BASE_URL" in ran.err


def test_a_404_names_the_url_and_the_servers_words(run, fake):
    ran = run("finetune-details nope")
    assert ran.code == _exit.EXIT_REJECTED
    assert "HTTP 404 from https://api.us1.bfl.ai/v1/finetune_details" in ran.err
    assert "Finetune nope not found" in ran.err and "`flux-canny finetunes` lists" in ran.err


def test_images_follow_the_umask_and_state_stays_private(run, fake, workdir):
    old = os.umask(0o022)
    try:
        assert run(f"{GEN} -o castle.png").code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((workdir / "castle.png").stat().st_mode) == 0o644
    assert stat.S_IMODE((workdir / "state" / "ledger.sqlite3").stat().st_mode) == 0o600


def test_an_extension_the_api_cannot_make_is_refused_before_paying(run, fake):
    ran = run(f"{GEN} -o out.gif")
    assert ran.code == _exit.EXIT_BAD_INPUT and "not gif" in ran.err and not fake.records


def test_result_converts_to_the_format_its_output_names_and_says_so(run, fake, workdir):
    task_id = run(f"{GEN} --no-wait --json").json()["task_id"]  # a JPEG task
    ran = run(f"result {task_id} -o later.png")
    assert ran.code == 0, ran.err
    assert "converted the jpeg image to png" in ran.err
    with Image.open(workdir / "later.png") as image:
        assert image.format == "PNG"


def test_result_settles_its_output_before_waiting(run, fake, workdir):
    task_id = run(f"{GEN} --no-wait --json").json()["task_id"]
    (workdir / f"flux-{task_id}.jpg").write_bytes(b"mine")
    polls = fake.requests[("GET", "/v1/get_result")]
    ran = run(f"result {task_id}")
    assert ran.code == _exit.EXIT_BAD_INPUT and "exists" in ran.err
    assert fake.requests[("GET", "/v1/get_result")] == polls  # refused before any wait
    assert (workdir / f"flux-{task_id}.jpg").read_bytes() == b"mine"
    assert not list((workdir / "state").rglob("*.jpg"))  # no copy left in the state folder


def test_result_of_a_task_already_downloaded_says_where_it_is(run, fake, workdir):
    made = run(f"{GEN} --json").json()
    polls = fake.requests[("GET", "/v1/get_result")]
    ran = run(f"result {made['task_id']}")
    assert ran.code == 0 and ran.out.strip().endswith(made["path"])
    assert "already downloaded" in ran.err
    assert fake.requests[("GET", "/v1/get_result")] == polls


def test_one_poll_is_one_poll(run, fake):
    fake.task_duration = 0.0
    ran = run(f"{GEN} -o now.png")
    assert ran.code == 0 and "1 poll," in ran.err


def test_the_timeout_line_gives_cli_users_the_cli_command_only(run, fake):
    fake.task_duration = 120.0
    ran = run(f"{GEN} --timeout 5")
    assert ran.code == _exit.EXIT_TIMEOUT
    assert (
        "flux-canny result" in ran.err and "wait()" not in ran.err and "get_result()" not in ran.err
    )


def test_a_refused_key_from_the_flag_is_not_blamed_on_the_variable(run, fake):
    ran = run(f"{GEN} --api-key wrong-key")
    assert ran.code == _exit.EXIT_REJECTED and "--api-key" in ran.err


def test_piped_tables_keep_each_row_and_path_on_one_line(run, fake, workdir):
    from .test_batch import _write_jobs

    _write_jobs(workdir, 2)
    deep = "out/" + "a-long-folder-name/" * 8
    ran = run(f"batch jobs.jsonl -o {deep}")
    assert ran.code == 0, ran.err
    rows = [line for line in ran.out.splitlines() if line.startswith("job0")]
    assert len(rows) == 2 and all(deep.rstrip("/") in row for row in rows)
    listed = run("tasks")
    assert sum(1 for line in listed.out.splitlines() if "a-long-folder-name/" * 8 in line) == 2


def test_mock_server_speaks_like_the_other_commands():
    import socket

    helped = subprocess.run([str(SCRIPT), "mock-server", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and helped.stdout.startswith(
        "Usage: flux-canny mock-server [OPTIONS]"
    )
    assert "--key" in helped.stdout and "test-key" in helped.stdout
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run(
            [str(SCRIPT), "mock-server", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert (
        busy.returncode == _exit.EXIT_BAD_INPUT and f"port {port} is already in use" in busy.stderr
    )


def test_mock_server_says_which_key_it_accepts():
    proc = subprocess.Popen(
        [str(SCRIPT), "mock-server", "--key", "my-key"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().startswith("http://127.0.0.1:")
        said = proc.stderr.readline()
        assert "accepting x-key my-key" in said and "BFL_API_KEY=my-key" in said
    finally:
        proc.terminate()
        proc.wait(10)


def test_debug_shows_our_requests_not_the_http_librarys_internals(tmp_path):
    from flux_canny.fake import FakeBFL, FakeServer

    with FakeServer(FakeBFL(task_duration=0.2)) as server:
        env = _script_env(tmp_path, server)
        ran = subprocess.run(
            [
                str(SCRIPT),
                "generate",
                "edges.png",
                "--prompt",
                "p",
                "--finetune-id",
                "my-finetune",
                "-o",
                "out.png",
                "--debug",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert ran.returncode == 0, ran.stderr
    base = server.base_url
    assert f"flux_canny.http: POST {base}/v1/flux-pro-1.0-canny-finetuned -> 200" in ran.stderr
    assert f"flux_canny.http: GET {base}/v1/get_result -> 200" in ran.stderr
    assert "httpcore" not in ran.stderr and "test-key" not in ran.stderr
    assert "?id=" not in ran.stderr and "se=" not in ran.stderr  # no query strings


def test_ctrl_c_under_a_live_bar_prints_on_a_line_of_its_own(tmp_path):
    import pty
    import re
    import select
    import signal
    import time

    from flux_canny.fake import FakeBFL, FakeServer

    with FakeServer(FakeBFL(task_duration=30)) as server:
        env = {**_script_env(tmp_path, server), "TERM": "xterm", "COLUMNS": "100"}
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [str(SCRIPT), "generate", "edges.png", "--prompt", "p", "--finetune-id", "my-finetune"],
            cwd=tmp_path,
            env=env,
            stdin=follower,
            stdout=follower,
            stderr=follower,
        )
        os.close(follower)
        seen = b""

        def read_for(seconds, until=lambda: False):
            nonlocal seen
            end = time.monotonic() + seconds
            while time.monotonic() < end and not until():
                ready, _, _ = select.select([leader], [], [], 0.05)
                if ready:
                    try:
                        seen += os.read(leader, 65536)
                    except OSError:  # the process ended and closed the terminal
                        return

        read_for(10, until=lambda: re.search(rb"poll [1-9]", seen))  # submitted, polling
        assert re.search(rb"poll \d", seen), seen  # the live bar is drawn
        proc.send_signal(signal.SIGINT)
        read_for(10)
        assert proc.wait(10) == 130
        os.close(leader)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode("utf-8", "replace"))
    message = "flux-canny: interrupted; task"
    assert message in text
    before, _, after = text.rpartition(message)
    line_start = before.rsplit("\n", 1)[-1].rsplit("\r", 1)[-1]
    assert line_start.strip() == "", repr(line_start)  # not glued to the bar
    assert not re.search(r"poll \d", after)  # no stale bar redrawn after it


def test_live_conformance_does_not_flag_fastapis_own_404(fake, caplog):
    with fake.client(check_responses=True) as flux:
        with pytest.raises(Exception, match="404"):
            flux.finetune_details("nope")
        assert flux.conformance.summary() == "1 response checked, all as the spec says"
    assert "undocumented" not in caplog.text


def _script_env(tmp_path, server):
    """What a user sets to run the installed script against the fake, and an edges.png."""
    from ..conftest import make_image

    (tmp_path / "edges.png").write_bytes(make_image("PNG", (256, 256)))
    return {
        **os.environ,
        "BFL_API_KEY": "test-key",
        "BFL_BASE_URL": server.base_url,
        "FLUX_CANNY_STATE_DIR": str(tmp_path / "state"),
    }


def test_tasks_help_describes_its_own_options(run):
    helped = run("tasks --help")
    assert helped.code == 0
    assert "instead of the path" not in helped.out
    limit = helped.out.split("--limit", 1)[1].split("\n  -", 1)[0]
    assert "newest tasks" in limit
