"""The three promises as invariants, tried by an adversary (issues 28, 29 and 30).

A hypothesis state machine plays the user, the server, the disk and the operating system
at once. At every step it chooses one move: the server's next answers (Ready, Moderated,
Error, Failed, not found, any JSON shape), its timing and the lag before it knows a new
task, a 403/404/5xx or a dropped connection on any request, the key echoed in error
bodies, a full disk, a dangling symlink at an output path, an edit or reorder of the jobs
file, a run of the real `flux-canny batch` (in-process, or as a real process killed with
SIGKILL at a request it chooses), from one of four state folders (FLUX_CANNY_STATE_DIR,
XDG_STATE_HOME or HOME), or a call of the library (generate, submit, resume; sync and
async). Every job and call names its endpoint (the seed's canny finetune, FLUX.2 with two
input images, Fill with an image and a mask, Kontext, a finetuned Ultra), one jobs file
mixes them, an edit may move a job to another endpoint (another job, never a resume of the
other endpoint's task), each endpoint has its duration and its price; an in-process run or
call may name no base URL, so that each operation goes to the server its spec names
(api.bfl.ai, api.us1.bfl.ai) and polls the regional host its task lives on. After every
step it checks, from what the fake saw and what a user can read:

(a) paid once: the tasks created for a job identity (its content, never its line) are
    no more than the user's word (a run or a call that asked for it) plus the server's
    positive word (a task it said ended without an image) plus the pay-again flags passed
    where they apply; a run with --max-cost was charged no more than it;
(b) no raw exception: exit status 0/1/2/130 with at most one error line and no
    traceback, no Python exception's name where a typed error's words belong, exit 2
    only when nothing was paid; the library raises FluxCannyError subclasses that pickle;
(c) the key in no sink: stdout, stderr, log records, every file of the state folders and
    the output folder, every exception's repr, text, notes, attributes, causes (with the
    requests they carry) and pickled bytes;
(d) every image the fake served is saved at its output path, or kept, or reported with
    its task id; a run that ends 0 or 1 reports every job; exit 0 means every image is
    there, and the image a job has is one its own endpoint made for it;
and, across the endpoints: the key went to the configured host and to https BFL API hosts
only (never to an image host), every submit with no base URL went to its operation's
server, a run never had more of its tasks running at once than its --concurrency (the 24
BFL allows a key, shared by every endpoint), and every ledger row of a task names the
task's operation.

Deterministic: in-process runs use the fake's virtual clock and its transport, ledger
writes run in place; a kill happens while the fake holds a chosen request (see
FakeBFL.hold_next), never after a sleep. `make test` (profile ci) runs a few short
examples; `make test-thorough` many long ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import itertools
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import click
import httpx
import pytest
from flux_canny import AsyncFluxCanny, FluxCanny, FluxCannyError, GeneratedImage, Task
from flux_canny._ledger_rows import FILE_NAME as LEDGER_FILE
from flux_canny._operations import CANNY, operations, origin
from flux_canny.cli._batch_record import RECORD_FILE
from flux_canny.cli._outputs import extension_for, requested_format
from flux_canny.fake import FakeServer, VirtualClock
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ..conftest import make_image
from ._accounts import DOWNLOAD, POLL, SUBMIT, Accounts, identity
from ._fake import AdversaryFake, Runaway
from ._sinks import KEY, LogCapture, exception_texts, files_holding, pickled, shown

#: (examples, steps per example, kill -9 runs per example) for each hypothesis profile
BUDGETS = {"ci": (10, 14, 1), "thorough": (400, 40, 3)}
DEFAULT_BUDGET = (25, 20, 1)
MAX_JOBS = 4
#: a killed run's chosen request not reached in this long: it is killed where it is
REACH_SECONDS = 60.0
#: longer than any one wait of the client between two requests (its 30 s read timeout on
#: an answer held back, its 30 s longest informed poll delay, its 8 s longest back-off)
QUIET_SECONDS = 50.0
STATES = ("A", "B", "xdg", "home")
WHERE = {"submit": SUBMIT, "poll": POLL, "download": DOWNLOAD}
IMAGES = (make_image("PNG", (40, 32)), make_image("PNG", (48, 32)))
#: the endpoints drawn (issue 30's sample): the seed's, FLUX.2 with two input images, Fill
#: with an image and a mask, Kontext, a finetuned one on the other server
ENDPOINTS = (
    CANNY,
    "flux-2-pro",
    "flux-pro-1.0-fill",
    "flux-kontext-pro",
    "flux-pro-1.1-ultra-finetuned",
)
#: what a library call draws: the face, the state folder, the image, the endpoint, and
#: whether the client has a base URL or routes each operation to its server
LIBRARY_CALL = {
    "face": st.sampled_from(["sync", "async"]),
    "state": st.sampled_from([None, *STATES]),
    "image": st.integers(0, 1),
    "endpoint": st.sampled_from(ENDPOINTS),
    "routed": st.booleans(),
}
#: the regional hosts a task may live on (None: the host it was submitted to)
REGIONS = (None, "api.eu2.bfl.ai", "api.us2.bfl.ai")
#: BFL's cap on a key's active tasks, shared by every endpoint
ACTIVE_CAP = 24
#: a Python exception's name where a typed error's words belong
RAW_NAME = re.compile(r"^(?:flux-canny: error: )?(?:[A-Za-z_]+\.)*[A-Za-z_]*(?:Error|Exception)\b:")


def _fast_folder() -> str | None:
    """A memory file system where there is one: every ledger write is synced to the disk,
    and on a disk the syncs, not the work, would take most of each example's time."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


_FAST_FOLDER = _fast_folder()


def _budget() -> tuple[int, int, int]:
    return BUDGETS.get(settings._current_profile or "", DEFAULT_BUDGET)


def _batch_flags() -> list[str]:
    """The pay-again flags this version of `batch` has (a flag not there is never passed)."""
    from flux_canny.cli._batch import batch

    wanted = (
        "--resubmit-uncertain",
        "--regenerate-changed",
        "--resubmit-not-found",
        "--resubmit-expired",
    )
    have = {opt for param in batch.params for opt in getattr(param, "opts", ())}
    return [flag for flag in wanted if flag in have]


FLAGS = _batch_flags()


# -- the world's pieces ----------------------------------------------------------------------


def _image_fields(endpoint: str, image: int) -> dict[str, int]:
    """The images a request of `endpoint` is given (field: which of IMAGES): every image
    field the sample's endpoints have, FLUX.2's second input the other picture."""
    op = operations()[endpoint]
    given = {field: image for field in op.image_fields[:1]}
    if "input_image_2" in op.image_fields and endpoint.startswith("flux-2"):
        given["input_image_2"] = 1 - image
    if "mask" in op.image_fields:
        given["mask"] = image  # the same size as the image
    return given


def _request(endpoint: str, prompt: str) -> dict[str, Any]:
    """The fields every request of `endpoint` here has besides its images."""
    fields: dict[str, Any] = {"prompt": prompt}
    if operations()[endpoint].finetuned:
        fields["finetune_id"] = "my-finetune"
    return fields


@attrs.frozen
class JobLine:
    """One job of the jobs file. Its prompt is unique to it; with its endpoint, the
    identity's key. `said`: the line names its endpoint even where it is the default."""

    prompt: str
    name: str | None
    image: int
    seed: int | None
    endpoint: str = CANNY
    said: bool = False

    @property
    def identity(self) -> str:
        return identity(self.endpoint, self.prompt)

    def output(self, folder: Path) -> Path | None:
        """Where a named job's image goes (its endpoint's default format's extension)."""
        if self.name is None:
            return None
        return folder / f"{self.name}{extension_for(requested_format({}, self.endpoint))}"

    def text(self) -> str:
        job: dict[str, Any] = {"name": self.name} if self.name else {}
        if self.said or self.endpoint != CANNY:
            job["endpoint"] = self.endpoint
        job |= {f: f"edges/c{n}.png" for f, n in _image_fields(self.endpoint, self.image).items()}
        job |= _request(self.endpoint, self.prompt)
        if self.seed is not None:
            job["seed"] = self.seed
        return json.dumps(job)


class _Mark:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


KEEP, DROP = _Mark("KEEP"), _Mark("DROP")


@attrs.frozen
class Shape:
    """An answer of another shape: some fields replaced (or DROPped; "a.b" reaches into a
    nested object), or the whole body replaced by any JSON value."""

    fields: tuple[tuple[str, Any], ...] = ()
    whole: Any = KEEP

    def __call__(self, given: Any) -> Any:
        if self.whole is not KEEP:
            return self.whole
        if not isinstance(given, dict):
            return given
        body = json.loads(json.dumps(given))
        for dotted, value in self.fields:
            *parents, leaf = dotted.split(".")
            node = body
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                continue
            if value is DROP:
                node.pop(leaf, None)
            else:
                node[leaf] = value
        return body


_ODD = [None, {}, [], "", "has space", 12345, 2**100, -1.5, True]
_JSON = st.recursive(
    st.sampled_from([None, True, 0, -1, 2**64, 1.5, math.nan, "", "Ready", "x"]),
    lambda inner: (
        st.lists(inner, max_size=2)
        | st.dictionaries(
            st.sampled_from(["id", "status", "result", "sample", "polling_url", "cost"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=4,
)
SUBMIT_SHAPES = st.builds(
    Shape,
    fields=st.lists(
        st.tuples(st.just("id"), st.sampled_from(_ODD))
        | st.tuples(
            st.just("polling_url"),
            st.sampled_from([DROP, None, 12345, [], "https://a.bfl.ai:443:1/x", "not a url"]),
        )
        | st.tuples(st.just("cost"), st.sampled_from([DROP, None, math.nan, -30, "5", 1e308])),
        min_size=1,
        max_size=2,
    ).map(tuple),
) | st.builds(Shape, whole=_JSON)
POLL_SHAPES = st.builds(
    Shape,
    fields=st.lists(
        st.tuples(
            st.just("status"),
            st.sampled_from(
                ["Ready", "Pending", "Error", "Content Moderated", "Task not found", "Odd", 7, None]
            ),
        )
        | st.tuples(st.just("result"), st.sampled_from([None, {}, [], "x"]))
        | st.tuples(
            st.just("result.sample"),
            st.sampled_from([DROP, None, 12345, "https://a.bfl.ai:443:1/x", "ftp://x/y.jpg"]),
        )
        | st.tuples(st.just("result.seed"), st.sampled_from([2**70, -1, "7", None]))
        | st.tuples(st.just("id"), st.sampled_from(["someone-else", None, 2**100])),
        min_size=1,
        max_size=2,
    ).map(tuple),
) | st.builds(Shape, whole=_JSON)
SHAPES = {"submit": SUBMIT_SHAPES, "poll": POLL_SHAPES, "download": st.builds(Shape, whole=_JSON)}


async def _in_place(work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Ledger writes and saves on the loop's thread: one order of events, every time."""
    return work(*args, **kwargs)


def _disk_full(real: Callable[..., Path], folders: list[Path]) -> Callable[..., Path]:
    def write(path: Any, data: bytes, *, overwrite: bool = True) -> Path:
        target = Path(path).absolute()
        if any(target.is_relative_to(folder) for folder in folders):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data, overwrite=overwrite)

    return write


class _FullDisk:
    """A ledger whose disk fills: after `room` more writes, every INSERT, UPDATE or DELETE
    fails as SQLite fails on a full disk (SQLITE_FULL, "database or disk is full")."""

    def __init__(self, room: int, folders: list[Path]) -> None:
        self.room, self.folders = room, folders

    def connect(self, real: Callable[..., sqlite3.Connection]) -> Callable[..., sqlite3.Connection]:
        disk = self

        class Connection(sqlite3.Connection):
            def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
                if sql.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
                    if disk.room <= 0:
                        raise sqlite3.OperationalError("database or disk is full")
                    disk.room -= 1
                return super().execute(sql, *args)

        def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
            where = Path(os.fspath(database)).resolve() if database else None
            if where is not None and any(where.is_relative_to(f) for f in self.folders):
                kwargs["factory"] = Connection
            return real(database, *args, **kwargs)

        return connect


@attrs.define
class Ran:
    """What one batch run showed a user."""

    code: int | None  # None: killed
    out: str
    err: str
    logs: list[str] = attrs.field(factory=list)
    errors: list[BaseException] = attrs.field(factory=list)


# -- the machine ---------------------------------------------------------------------------


class Promises(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="flux-canny-invariants-", dir=_FAST_FOLDER))
        (self.root / "edges").mkdir()
        for number, data in enumerate(IMAGES):
            (self.root / "edges" / f"c{number}.png").write_bytes(data)
        self.jobs_file = self.root / "jobs.jsonl"
        self.out = self.root / "out"
        self.fake = AdversaryFake(
            clock=VirtualClock(), api_keys=[KEY], task_duration=1.0, rng_seed=1
        )
        self.accounts = Accounts(self.fake)
        self.fake.on_answer = self.accounts.saw
        self.server = FakeServer(self.fake)  # its port names the API; served only to kill -9
        self.server_started = False
        self.base_url = self.server.base_url
        self.lines: list[JobLine | None] = []
        self.numbers = itertools.count(1)
        #: identities a batch run has asked for (the user's word, once each)
        self.batch_asked: set[str] = set()
        #: images served to a run that was then killed: a later run must account for them
        self.pending: set[str] = set()
        self.library_tasks: list[Task] = []
        self.kills = 0
        #: a step ran with no base URL: BFL's hosts are in the ledgers and records now,
        #: where a real process (which has no fake transport) must never follow them
        self.left_loopback = False
        #: the fake's requests the checks after every step have looked at
        self.heard_checked = 0
        self.out_full = False
        self.state_headroom: int | None = None

    def teardown(self) -> None:
        self.fake.cancel_holds()
        self.server.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- the jobs file ---------------------------------------------------------------------

    def _new_job(
        self, *, named: bool, image: int, seed: int | None, endpoint: str = CANNY
    ) -> JobLine:
        n = next(self.numbers)
        return JobLine(f"castle {n}", f"job{n}" if named else None, image, seed, endpoint)

    def _write_jobs(self) -> None:
        text = "".join((line.text() if line else "") + "\n" for line in self.lines)
        self.jobs_file.write_text(text)

    def _jobs(self) -> list[tuple[int, JobLine]]:
        return [(n, line) for n, line in enumerate(self.lines, start=1) if line is not None]

    @initialize(
        named=st.booleans(),
        also_unnamed=st.booleans(),
        endpoints=st.tuples(st.sampled_from(ENDPOINTS), st.sampled_from(ENDPOINTS)),
    )
    def first_jobs(
        self, named: bool, also_unnamed: bool, endpoints: tuple[str, str] = (CANNY, CANNY)
    ) -> None:
        self.lines = [self._new_job(named=named, image=0, seed=None, endpoint=endpoints[0])]
        if also_unnamed:
            self.lines.append(self._new_job(named=False, image=1, seed=7, endpoint=endpoints[1]))
        self._write_jobs()

    @precondition(lambda self: len(self._jobs()) < MAX_JOBS)
    @rule(
        named=st.booleans(),
        image=st.integers(0, 1),
        seed=st.sampled_from([None, None, 3, 2**63]),
        at=st.integers(0, 9),
        endpoint=st.sampled_from(ENDPOINTS),
    )
    def add_job(
        self, named: bool, image: int, seed: int | None, at: int, endpoint: str = CANNY
    ) -> None:
        job = self._new_job(named=named, image=image, seed=seed, endpoint=endpoint)
        self.lines.insert(at % (len(self.lines) + 1), job)
        self._write_jobs()

    @rule(at=st.integers(0, 9))
    def insert_blank_line(self, at: int) -> None:
        self.lines.insert(at % (len(self.lines) + 1), None)
        self._write_jobs()

    @precondition(lambda self: len(self.lines) > 1)
    @rule(source=st.integers(0, 9), to=st.integers(0, 9))
    def move_line(self, source: int, to: int) -> None:
        line = self.lines.pop(source % len(self.lines))
        self.lines.insert(to % (len(self.lines) + 1), line)
        self._write_jobs()

    @precondition(lambda self: bool(self._jobs()))
    @rule(which=st.integers(0, 9))
    def edit_prompt(self, which: int) -> None:
        number, line = self._jobs()[which % len(self._jobs())]
        edited = attrs.evolve(line, prompt=f"castle {next(self.numbers)}")
        self.lines[number - 1] = edited
        self._write_jobs()

    @precondition(lambda self: bool(self._jobs()))
    @rule(which=st.integers(0, 9), endpoint=st.sampled_from(ENDPOINTS), said=st.booleans())
    def edit_endpoint(self, which: int, endpoint: str, said: bool) -> None:
        """The same prompt, name and pictures sent to another endpoint (or the same one,
        its name now written or left out): another job when the endpoint changed, the
        same job when only the line's words did."""
        number, line = self._jobs()[which % len(self._jobs())]
        self.lines[number - 1] = attrs.evolve(line, endpoint=endpoint, said=said)
        self._write_jobs()

    # -- the server ------------------------------------------------------------------------

    @rule(
        outcomes=st.lists(
            st.sampled_from(
                [
                    "Ready",
                    "Content Moderated",
                    "Request Moderated",
                    "Error",
                    "Failed",
                    "terminal-422",
                    "terminal-503",
                ]
            ),
            min_size=1,
            max_size=3,
        )
    )
    def server_outcomes(self, outcomes: list[str]) -> None:
        self.fake.queue_outcomes(*outcomes)

    @rule(
        duration=st.sampled_from([0.2, 1.0, 4.0]),
        lag=st.sampled_from([0.0, 0.5, 3.0, 30.0]),
        durations=st.dictionaries(
            st.sampled_from(ENDPOINTS), st.sampled_from([0.2, 1.0, 4.0]), max_size=3
        ),
    )
    def server_timing(
        self, duration: float, lag: float, durations: dict[str, float] | None = None
    ) -> None:
        self.fake.task_duration = duration
        self.fake.durations = dict(durations or {})
        self.fake.known_after = lag

    @rule(
        region=st.sampled_from(REGIONS),
        prices=st.dictionaries(
            st.sampled_from(ENDPOINTS), st.sampled_from([1.0, 5.0, 9.0]), max_size=2
        ),
    )
    def server_region_and_prices(self, region: str | None, prices: dict[str, float]) -> None:
        """New tasks submitted to BFL's hosts live on `region`; endpoints cost `prices`."""
        self.fake.region = region
        self.fake.prices = dict(prices)

    @rule(
        kind=st.sampled_from(
            [403, 404, 429, 500, 502, 503, "connect", "drop", "slow", "malformed", "not-found-404"]
        ),
        where=st.sampled_from(sorted(WHERE)),
        count=st.integers(1, 4),
        delay=st.sampled_from([5.0, 60.0, 400.0]),
    )
    def server_fails(self, kind: int | str, where: str, count: int, delay: float) -> None:
        self.fake.fail_next(count, kind, path=WHERE[where], delay=delay)  # type: ignore[arg-type]

    @rule(
        data=st.data(),
        where=st.sampled_from(sorted(WHERE)),
        process=st.booleans(),
        status=st.sampled_from([None, 200, 202, 422, 500]),
    )
    def server_answers_any_shape(
        self, data: st.DataObject, where: str, process: bool, status: int | None
    ) -> None:
        shape = data.draw(SHAPES[where], label="shape")
        self.fake.answer_next(body=shape, path=WHERE[where], process=process, status=status)

    @rule(on=st.booleans())
    def server_echoes_the_key(self, on: bool) -> None:
        self.fake.echo_key = on

    @rule(seconds=st.sampled_from([30.0, 700.0, 4000.0]))
    def time_passes(self, seconds: float) -> None:
        self.fake.clock.advance(seconds)  # type: ignore[attr-defined]

    # -- the disk --------------------------------------------------------------------------

    @rule(out=st.booleans(), headroom=st.sampled_from([None, 1, 3, 5]))
    def disk_fills(self, out: bool, headroom: int | None) -> None:
        self.out_full, self.state_headroom = out, headroom

    @rule()
    def disk_freed(self) -> None:
        self.out_full, self.state_headroom = False, None

    def _free_named_outputs(self) -> list[Path]:
        outputs = [line.output(self.out) for _, line in self._jobs()]
        return [path for path in outputs if path is not None and not os.path.lexists(path)]

    @precondition(lambda self: bool(self._free_named_outputs()))
    @rule(which=st.integers(0, 9))
    def dangling_symlink(self, which: int) -> None:
        free = self._free_named_outputs()
        target = free[which % len(free)]
        target.parent.mkdir(exist_ok=True)
        target.symlink_to(self.root / "gone" / target.name)

    @rule()
    def symlinks_removed(self) -> None:
        if self.out.exists():
            for path in self.out.iterdir():
                if path.is_symlink():
                    path.unlink()

    # -- the environment -------------------------------------------------------------------

    def _state_env(self, state: str) -> dict[str, str]:
        base = {"BFL_API_KEY": KEY, "BFL_BASE_URL": self.base_url}
        if state in ("A", "B"):
            return base | {"FLUX_CANNY_STATE_DIR": str(self.root / f"state{state}")}
        if state == "xdg":
            return base | {
                "XDG_STATE_HOME": str(self.root / "xdg"),
                "HOME": str(self.root / "home-x"),
            }
        return base | {"HOME": str(self.root / "home")}

    def _environ(self, state: str, routed: bool = False) -> dict[str, str]:
        """`routed`: no base URL, so each operation goes to its spec server (in process
        only: the fake's transport answers BFL's hosts, the network is never reached)."""
        scrubbed = {
            name: value
            for name, value in os.environ.items()
            if not name.lower().endswith("_proxy")
            and name
            not in ("FLUX_CANNY_STATE_DIR", "XDG_STATE_HOME", "BFL_API_KEY", "BFL_BASE_URL")
        }
        environ = scrubbed | self._state_env(state)
        if routed:
            self.left_loopback = True
            environ.pop("BFL_BASE_URL", None)
        return environ

    @contextlib.contextmanager
    def _environment(self, state: str, routed: bool = False) -> Iterator[None]:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self._environ(state, routed))
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    @contextlib.contextmanager
    def _in_process(
        self, state: str, caught: list[BaseException], routed: bool = False
    ) -> Iterator[LogCapture]:
        """The environment of `state`, the fake wired in, the disks as they are now."""
        import flux_canny.cli as cli_module
        from flux_canny import _offload, images
        from flux_canny.cli import _options, _outputs

        real_code = cli_module.exit_code_for

        def recording(error: BaseException) -> int:
            caught.append(error)
            return real_code(error)

        logs = LogCapture()
        with contextlib.ExitStack() as stack:
            patch = stack.enter_context(pytest.MonkeyPatch.context())
            patch.setattr(_offload, "off_loop", _in_place)
            patch.setattr(cli_module, "exit_code_for", recording)
            full = [self.out] if self.out_full else []
            if self.state_headroom is not None:
                states = [self.root / name for name in ("stateA", "stateB", "xdg", "home")]
                full += states
                disk = _FullDisk(self.state_headroom, [f.resolve() for f in states])
                patch.setattr(sqlite3, "connect", disk.connect(sqlite3.connect))
            if full:
                patch.setattr(images, "write_atomic", _disk_full(images.write_atomic, full))
                patch.setattr(_outputs, "write_atomic", _disk_full(_outputs.write_atomic, full))
            stack.enter_context(self._environment(state, routed))
            stack.enter_context(
                _options.wired_to(transport=self.fake.transport(), clock=self.fake.clock)
            )
            stack.enter_context(logs.installed())
            self.fake.guard, self.fake.step_requests = True, 0
            try:
                yield logs
            finally:
                self.fake.guard = False

    # -- batch runs ------------------------------------------------------------------------

    def _ask(self, flags: list[str]) -> None:
        """The user's word: a run asks for every job in the file, once per identity;
        a named job whose image an earlier version made is asked only with
        --regenerate-changed."""
        for _, line in self._jobs():
            if line.identity in self.batch_asked:
                continue
            output = line.output(self.out)
            if output is not None and output.is_file() and "--regenerate-changed" not in flags:
                makers = self.accounts.makers_of(output.read_bytes())
                if makers and line.identity not in makers:
                    continue  # reported `changed`, nothing to pay
            self.batch_asked.add(line.identity)
            self.accounts.asked[line.identity] += 1

    def _flags_apply(self, flags: list[str]) -> None:
        """Pay-again flags count for the identities in the file they apply to."""
        told = {
            "--resubmit-uncertain": self.accounts.undelivered,
            "--resubmit-not-found": self.accounts.told_not_found,
            "--resubmit-expired": self.accounts.told_expired,
        }
        for flag in flags:
            which = told.get(flag)
            if which is None:
                continue
            for _, line in self._jobs():
                if any(task in which for task in self.accounts.tasks_of(line.identity)):
                    self.accounts.flagged[line.identity] += 1

    @rule(
        state=st.sampled_from(STATES),
        flags=st.lists(st.sampled_from(FLAGS), unique=True, max_size=2) if FLAGS else st.just([]),
        max_cost=st.sampled_from([None, None, 0.0, 7.0, 12.0]),
        concurrency=st.sampled_from([1, 2, 24]),
        timeout=st.sampled_from([None, None, 3.0]),
        routed=st.booleans(),
    )
    def run_batch(
        self,
        state: str,
        flags: list[str],
        max_cost: float | None,
        concurrency: int,
        timeout: float | None,
        routed: bool = False,
    ) -> None:
        from flux_canny.cli import main

        args = [
            "batch",
            str(self.jobs_file),
            "-o",
            str(self.out),
            "--json",
            "-q",
            "--concurrency",
            str(concurrency),
            *flags,
        ]
        args += ["--max-cost", f"{max_cost:g}"] if max_cost is not None else []
        args += ["--timeout", f"{timeout:g}"] if timeout is not None else []
        self._ask(flags)
        served, charged = len(self.accounts.serves), set(self.accounts.charged)
        created = set(self.accounts.created)
        caught: list[BaseException] = []
        out, err = io.StringIO(), io.StringIO()
        with (
            self._in_process(state, caught, routed) as logs,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = main(args)
        self._flags_apply(flags)
        ran = Ran(code, out.getvalue(), err.getvalue(), logs.lines, caught)
        self._check_run(ran, served=served, created=created, concurrency=concurrency)
        if max_cost is not None:
            self._within_the_limit(max_cost, charged, ran)

    def _within_the_limit(self, max_cost: float, before: set[str], ran: Ran) -> None:
        """(a) a run with --max-cost is charged no more than it, but for what it could not
        know: by how much an endpoint's first task cost more than every task before it."""
        spent, allowed, dearest = 0.0, max_cost, 0.0
        priced: dict[str, float] = {}
        for task in self.accounts.created:  # in the order the fake made them
            if task not in self.accounts.charged or task in before:
                continue
            operation, cost = self.accounts.operation_of[task], self.accounts.cost_of[task]
            if operation not in priced:
                allowed += max(0.0, cost - dearest)
            priced[operation] = cost
            dearest, spent = max(dearest, cost), spent + cost
            assert spent <= allowed + 1e-9, (
                f"(a) --max-cost {max_cost:g} was passed and the run was charged {spent:g} "
                f"credits by task {task} ({operation}; prices {priced})\n{ran.err}"
            )

    @precondition(
        lambda self: (
            self.kills < _budget()[2] and sys.platform != "win32" and not self.left_loopback
        )
    )
    @rule(
        state=st.sampled_from(STATES),
        flags=st.lists(st.sampled_from(FLAGS), unique=True, max_size=1) if FLAGS else st.just([]),
        where=st.sampled_from(sorted(WHERE)),
        nth=st.integers(1, 3),
        after=st.booleans(),
        then_processed=st.booleans(),
    )
    def kill_9_batch(
        self, state: str, flags: list[str], where: str, nth: int, after: bool, then_processed: bool
    ) -> None:
        """A real `flux-canny batch` process, killed with SIGKILL while the fake holds its
        `nth` request to `where` (before handling it, or after); the request is then
        handled or dropped, as a server may or may not have received it. A run still
        moving after REACH_SECONDS (slow answers, back-offs) is killed where it is."""
        self.kills += 1
        if not self.server_started:
            self.server.start()
            self.server_started = True
        self._ask(flags)
        served, created = len(self.accounts.serves), set(self.accounts.created)
        method = "POST" if where == "submit" else "GET"
        hold = self.fake.hold_next(nth, path=WHERE[where], method=method, after=after, timeout=30)
        command = [
            sys.executable,
            "-m",
            "flux_canny.cli",
            "batch",
            str(self.jobs_file),
            "-o",
            str(self.out),
            "--json",
            "-q",
            "--concurrency",
            "1",
            *flags,
        ]
        self.fake.tick_seconds = 1.0  # a real process's polls see its tasks move on
        try:
            process = subprocess.Popen(
                command,
                env=self._environ(state),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self.fake.heard_at = started = time.monotonic()
            while not hold.wait(0.02) and process.poll() is None:
                if time.monotonic() - started > REACH_SECONDS:
                    self._still_moving(process, f"request {nth} to {where}")
                    break  # killed where it is: a kill -9 anywhere is the OS's right
            if hold.arrived.is_set() or process.poll() is None:
                process.send_signal(signal.SIGKILL)
                out, err = process.communicate(timeout=30)
                if hold.arrived.is_set():
                    hold.release(process=then_processed)
                    assert hold.done.wait(30)
                assert self.fake.wait_idle(30)
                self._answers_lost_with_the_process(created)
                ran = Ran(None, out, err)
            else:
                out, err = process.communicate(timeout=30)
                ran = Ran(process.returncode, out, err)
        finally:
            self.fake.cancel_holds()
            self.fake.tick_seconds = 0.0
        self._flags_apply(flags)
        self._check_run(ran, served=served, created=created, concurrency=1)

    def _answers_lost_with_the_process(self, before: set[str]) -> None:
        """A killed run's submits whose task id its output folder's record never got: the
        answer reached a process that died before writing it down (the next job's submit
        overlaps a download, so any request held may catch one in flight). For the client
        such a submit is uncertain, as one whose answer was lost on the way."""
        record = self.out / RECORD_FILE
        known = record.read_text(errors="replace") if record.exists() else ""
        for task_id in set(self.accounts.created) - before:
            if task_id not in known:
                self.accounts.undelivered.add(task_id)

    def _still_moving(self, process: subprocess.Popen[str], aim: str) -> None:
        """A real process that has not reached `aim` in REACH_SECONDS may be waiting, as it
        should, on slow answers (each up to its read timeout) and back-offs; one that has
        made no request for QUIET_SECONDS waits on nothing the server does: a hang."""
        quiet = time.monotonic() - self.fake.heard_at
        if quiet > QUIET_SECONDS:
            process.kill()
            process.communicate()
            raise AssertionError(
                f"(b) the batch neither ended nor reached {aim} in {REACH_SECONDS:g} s, and "
                f"made no request in its last {quiet:.0f} s: a wait without bound"
            )

    def _check_run(self, ran: Ran, *, served: int, created: set[str], concurrency: int) -> None:
        """(b), (c), (d) and the cap for one batch run; (a) is checked after every step."""
        sinks = [ran.out, ran.err, *ran.logs]
        for error in ran.errors:
            sinks += list(exception_texts(error))
        assert not [s for s in sinks if KEY in s], f"(c) the key is shown: {_showing(sinks)}"
        new_tasks = set(self.accounts.created) - created
        just_served = self.accounts.served_since(served)
        if ran.code is None:  # killed: what it was served, a later run must account for
            self.pending |= just_served
            return
        assert ran.code in (0, 1, 2, 130), f"(b) exit status {ran.code}\n{ran.err}"
        raw = [e for e in ran.errors if not isinstance(e, FluxCannyError | click.ClickException)]
        assert not raw, f"(b) a raw {type(raw[0]).__name__} reached the command: {raw[0]}"
        assert "Traceback" not in ran.err, f"(b) a traceback on stderr:\n{ran.err}"
        said = [line for line in ran.err.splitlines() if line.startswith("flux-canny: error:")]
        assert len(said) <= 1, f"(b) more than one error line:\n{ran.err}"
        try:
            rows = [json.loads(line) for line in ran.out.splitlines() if line.strip()]
        except ValueError:
            raise AssertionError(f"(b) --json printed what is not JSON:\n{ran.out}") from None
        words = said + [row["error"] for row in rows if row.get("error")]
        named = [w for w in words if RAW_NAME.match(w)]
        assert not named, f"(b) a raw exception's words reach the user: {named[0]}"
        if ran.code == 2:
            assert not new_tasks, (
                f"(b) exit 2 says nothing was sent, yet {len(new_tasks)} task(s) were "
                f"created:\n{ran.err}"
            )
        if ran.code in (0, 1):
            jobs = {number for number, _ in self._jobs()}
            missing = jobs - {row["line"] for row in rows}
            assert not missing, f"(d) exit {ran.code} and no word on line(s) {sorted(missing)}"
            for row in rows:
                if row["status"] in ("ok", "skipped", "kept"):
                    assert row["path"] and Path(row["path"]).is_file(), (
                        f"(d) {row['name']} is {row['status']} at {row['path']}, which is no file"
                    )
            if ran.code == 0:
                unsettled = [r for r in rows if r["status"] not in ("ok", "skipped")]
                assert not unsettled, f"(d) exit 0 with unfinished jobs: {unsettled}"
            self._each_job_has_its_own_image(rows)
        self._within_the_cap(new_tasks, just_served, concurrency, ran)
        prompts = {line.identity for _, line in self._jobs()}
        due = set(just_served)
        if ran.code in (0, 1):
            due |= {t for t in self.pending if self.accounts.created.get(t) in prompts}
        for task_id in sorted(due):
            assert self._accounted(task_id, rows), (
                f"(d) the image of task {task_id} (job {self.accounts.created.get(task_id)!r}) "
                f"was served{' to a killed run' if task_id not in just_served else ''} and is "
                f"neither saved, kept nor reported (exit {ran.code}):\n{ran.out}{ran.err}"
            )
        self.pending -= due

    def _each_job_has_its_own_image(self, rows: list[dict[str, Any]]) -> None:
        """A job's image is one made for it, by its own endpoint: never the picture of the
        job it was edited from, nor another endpoint's task resumed for it."""
        lines = dict(self._jobs())
        for row in rows:
            line = lines.get(row["line"])
            if line is None or row["status"] not in ("ok", "skipped", "kept"):
                continue
            made_by = self.accounts.operation_of.get(row.get("task_id") or "")
            assert made_by in (None, line.endpoint), (
                f"(d) line {row['line']} ({line.endpoint}) is {row['status']} with task "
                f"{row['task_id']}, a task of {made_by}"
            )
            path = Path(row["path"])
            makers = self.accounts.makers_of(path.read_bytes()) if path.is_file() else set()
            assert not makers or line.identity in makers, (
                f"(d) line {row['line']} ({line.identity!r}) is {row['status']} at {path}, "
                f"which holds the image of {sorted(makers)}"
            )

    def _within_the_cap(
        self, new_tasks: set[str], seen_done: set[str], concurrency: int, ran: Ran
    ) -> None:
        """A run's own tasks running at once: never more than its --concurrency, and never
        more than the cap BFL's key has for every endpoint. Counted: the tasks it saw end
        (their image served), not those an answer it could not read made it give up on."""
        told = (new_tasks & seen_done) - self.accounts.undelivered
        most = self.accounts.most_at_once(told)
        cap = min(concurrency, ACTIVE_CAP)
        assert most <= cap, (
            f"the run had {most} of its tasks running at once, over its cap of {cap} "
            f"(endpoints {sorted({self.accounts.operation_of[t] for t in told})})\n{ran.out}"
        )

    def _accounted(self, task_id: str, rows: list[dict[str, Any]]) -> bool:
        """Reported with its id (a row's task id or words), or saved where a row says."""
        image = self.accounts.served[task_id]
        for row in rows:
            if row.get("task_id") == task_id or task_id in (row.get("error") or ""):
                return True
            path = Path(row["path"]) if row.get("path") else None
            if path is not None and path.is_file() and path.read_bytes() == image:
                return True
        return False

    # -- the library -----------------------------------------------------------------------

    def _call(
        self, face: str, state: str | None, call: Callable[[Any], Any], routed: bool = False
    ) -> tuple[Any, BaseException | None, list[str]]:
        """One public call on a fresh client of `face`, its ledger in `state`'s folder
        (None: no ledger); `routed`: no base URL. Returns (value, error, log lines)."""
        options: dict[str, Any] = {
            "api_key": KEY,
            "clock": self.fake.clock,
            "transport": self.fake.transport(),
            "ledger": None if state is not None else False,
        }
        if not routed:
            options["base_url"] = self.base_url
        value: Any = None
        error: BaseException | None = None
        with self._in_process(state or "A", [], routed) as logs:
            try:
                if face == "sync":
                    with FluxCanny(**options) as flux:
                        value = call(flux)
                else:

                    async def run() -> Any:
                        async with AsyncFluxCanny(**options) as flux:
                            return await call(flux)

                    value = asyncio.run(run())
            except Runaway:
                raise
            except BaseException as failed:
                error = failed
        return value, error, logs.lines

    def _check_call(
        self, what: str, value: Any, error: BaseException | None, logs: list[str], served: int
    ) -> None:
        sinks = list(logs)
        if error is not None:
            assert isinstance(error, FluxCannyError), (
                f"(b) {what} raised a raw {type(error).__name__}: {shown(str, error)}"
            )
            for show in (str, repr):
                text = shown(show, error)
                assert not text.startswith(f"<{show.__name__}() raised"), (
                    f"(b) {what}'s {type(error).__name__} cannot be shown: {text}"
                )
            back, data, why = pickled(error)
            assert why is None, f"(b) {what}'s {type(error).__name__} does not pickle: {why}"
            assert type(back) is type(error), f"(b) {what}'s error unpickles as {type(back)}"
            sinks += [*exception_texts(error), data.decode("latin-1")]
        assert not [s for s in sinks if KEY in s], f"(c) {what} shows the key: {_showing(sinks)}"
        for task_id in sorted(self.accounts.served_since(served)):
            if isinstance(value, GeneratedImage):
                assert value.task_id == task_id, (
                    f"(d) {what} was served task {task_id}'s image and returned it as task "
                    f"{value.task_id!r}"
                )
            else:
                assert error is not None and (
                    error.task_id == task_id or task_id in str(error)  # type: ignore[attr-defined]
                ), f"(d) {what} was served task {task_id}'s image and lost it: {error!r}"

    def _library_fields(self, endpoint: str, image: int) -> dict[str, Any]:
        """A call's fields, its images as bytes; each call is the user's word for one task."""
        prompt = f"library {next(self.numbers)}"
        self.accounts.asked[identity(endpoint, prompt)] += 1
        images = {f: IMAGES[n] for f, n in _image_fields(endpoint, image).items()}
        return {"endpoint": endpoint, **images, **_request(endpoint, prompt)}

    @rule(**LIBRARY_CALL)
    def library_generate(
        self, face: str, state: str | None, image: int, endpoint: str = CANNY, routed: bool = False
    ) -> None:
        fields = self._library_fields(endpoint, image)
        served = len(self.accounts.serves)
        value, error, logs = self._call(face, state, lambda flux: flux.generate(**fields), routed)
        self._check_call(f"{face} generate", value, error, logs, served)
        if isinstance(value, GeneratedImage):
            made_by = self.accounts.operation_of.get(value.task_id)
            assert made_by == endpoint, (
                f"(d) generate(endpoint={endpoint!r}) returned task {value.task_id}, a task "
                f"of {made_by}"
            )

    @rule(**LIBRARY_CALL)
    def library_submit(
        self, face: str, state: str | None, image: int, endpoint: str = CANNY, routed: bool = False
    ) -> None:
        fields = self._library_fields(endpoint, image)
        served = len(self.accounts.serves)
        value, error, logs = self._call(face, state, lambda flux: flux.submit(**fields), routed)
        self._check_call(f"{face} submit", value, error, logs, served)
        if isinstance(value, Task):
            self.library_tasks.append(value)

    @precondition(lambda self: bool(self.library_tasks))
    @rule(
        face=st.sampled_from(["sync", "async"]),
        state=st.sampled_from([None, *STATES]),
        which=st.integers(0, 9),
        by_id=st.booleans(),
        routed=st.booleans(),
    )
    def library_resume(
        self, face: str, state: str | None, which: int, by_id: bool, routed: bool = False
    ) -> None:
        task = self.library_tasks[which % len(self.library_tasks)]
        served = len(self.accounts.serves)
        value, error, logs = self._call(
            face, state, lambda flux: flux.resume(task.id if by_id else task), routed
        )
        self._check_call(f"{face} resume", value, error, logs, served)

    # -- after every step ------------------------------------------------------------------

    @invariant()
    def paid_once(self) -> None:
        over = self.accounts.overpaid()
        assert not over, "(a) paid beyond the user's and the server's word: " + "; ".join(
            f"{prompt!r} paid {paid}, allowed {allowed} ({self._history(prompt)})"
            for prompt, (paid, allowed) in sorted(over.items())
        )

    @invariant()
    def key_stays_home(self) -> None:
        leaked = files_holding(self.root, KEY)
        assert not leaked, f"(c) the key is written in {[str(p) for p in leaked]}"

    @invariant()
    def key_and_submits_go_where_promised(self) -> None:
        """The key reached the configured host (the loopback fake, over http) or an API
        host of BFL's over https on 443, never an image host; a submit over https (no base
        URL) reached its operation's own server."""
        server = httpx.URL(self.base_url)
        by_path = {op.path: op for op in operations().values()}
        for heard in self.fake.heard[self.heard_checked :]:
            where = f"{heard.method} {heard.scheme}://{heard.host}:{heard.port}{heard.path}"
            if heard.keyed:
                configured = (heard.scheme, heard.host, heard.port) == (
                    server.scheme,
                    server.host,
                    server.port,
                )
                bfl = (
                    heard.scheme == "https"
                    and heard.port in (None, 443)
                    and heard.host.endswith(".bfl.ai")
                )
                assert (configured or bfl) and not heard.path.startswith(DOWNLOAD), (
                    f"(c) the key was sent to {where}"
                )
            op = by_path.get(heard.path)
            if op is not None and heard.method == "POST" and heard.scheme == "https":
                home = httpx.URL(origin(op)).host
                assert heard.host == home, f"{op.name}'s submit went to {heard.host}, not {home}"
        self.heard_checked = len(self.fake.heard)

    @invariant()
    def ledger_rows_name_their_operation(self) -> None:
        """Every ledger row of a task names the operation the task was sent to."""
        for path in self.root.rglob(LEDGER_FILE):
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                rows = db.execute(
                    "SELECT task_id, operation, state FROM tasks WHERE task_id IS NOT NULL"
                ).fetchall()
            for task_id, named, state in rows:
                made = self.accounts.operation_of.get(task_id)
                assert named is not None and made in (None, named), (
                    f"the ledger {path.relative_to(self.root)} says task {task_id} ({state}) "
                    f"is of {named}; it is a task of {made}"
                )

    def _history(self, prompt: str) -> str:
        a = self.accounts
        told = []
        for task in a.tasks_of(prompt):
            notes = [
                word
                for word, seen in (
                    ("no image", a.told_no_image),
                    ("refused", a.told_refused),
                    ("id not delivered", a.undelivered),
                    ("not found", a.told_not_found),
                    ("image refused", a.told_expired),
                    ("served", a.served),
                )
                if task in seen
            ]
            told.append(f"{task[-4:]}: {', '.join(notes) or '-'}")
        return f"asked {a.asked[prompt]}, flags {a.flagged[prompt]}; tasks " + "; ".join(told)


def _showing(sinks: list[str]) -> str:
    for text in sinks:
        if KEY in text:
            at = text.index(KEY)
            return repr(text[max(0, at - 160) : at + len(KEY) + 40])
    return ""


def test_the_promises_hold_whatever_the_server_the_files_and_the_environment_do() -> None:
    examples, steps, _ = _budget()
    current = settings.get_profile(settings._current_profile or "default")
    phases = current.phases
    if settings._current_profile == "ci":  # the budget: a failure is reported, not shrunk
        phases = tuple(p for p in phases if p is not Phase.shrink)
    run_state_machine_as_test(
        Promises,
        settings=settings(current, max_examples=examples, stateful_step_count=steps, phases=phases),
    )
