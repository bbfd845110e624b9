"""Issue 28, break 10 through the command line: a server that echoes the key gets it
printed nowhere (stderr, stdout, --debug's log lines and tracebacks) and stored nowhere
(the ledger's files)."""

from __future__ import annotations

import pytest
from flux_canny.fake import VirtualClock

from ..client.test_key_and_errors_invariants import ECHOES, echoing
from ..conftest import KEY
from .conftest import GEN

#: what `generate` exits with for each of the echoing servers
EXITS = {
    "422 list of errors": 3,
    "422 string detail": 3,
    "submit 5xx body": 1,
    "poll 5xx body": 3,
    "poll Error status": 4,
}


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("scenario", sorted(ECHOES))
def test_a_key_the_server_echoes_is_not_printed_or_stored(
    run, workdir, wire_cli, monkeypatch, scenario, debug
):
    monkeypatch.setenv("BFL_API_KEY", KEY)
    submit, polls, _ = ECHOES[scenario]
    wire_cli(transport=echoing(submit, polls), clock=VirtualClock())
    ran = run(GEN + " --timeout 60" + (" --debug" if debug else ""))
    assert ran.code == EXITS[scenario], ran.err
    assert "[redacted]" in ran.err or scenario.endswith("5xx body")
    assert KEY not in ran.err and KEY not in ran.out
    stored = [p for p in (workdir / "state").rglob("*") if p.is_file()]
    assert any(p.name.startswith("ledger") for p in stored)
    for path in stored:
        assert KEY.encode() not in path.read_bytes(), path
