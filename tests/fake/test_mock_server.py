"""`flux-canny mock-server` serves every endpoint, with a duration per endpoint, credits and
finetunes from its flags, and says which key it accepts."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from flux_canny._operations import operations

from tests._mock_server import mock_server_process
from tests.fake._operation_bodies import KEY, valid_body


@pytest.fixture
def mock_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """The running command's base URL and its banner (stderr's two lines)."""
    with mock_server_process(*request.param, stderr=subprocess.PIPE) as (base, proc):
        assert proc.stderr is not None
        yield base, proc.stderr.readline() + proc.stderr.readline()


FLAGS = ["--task-duration", "0.05", "--duration", "flux-2-pro=30", "--credits", "10"]
FLAGS += ["--finetune", "mine", "--finetune", "theirs"]


@pytest.mark.parametrize("mock_server", [FLAGS], indirect=True)
def test_the_mock_server_serves_every_endpoint_with_the_flags_given(mock_server):
    base, banner = mock_server
    assert "accepting x-key test-key (the default" in banner and "BFL_API_KEY=test-key" in banner
    assert f"serving {len(operations())} endpoints" in banner and "flux-2-pro 30 s" in banner
    with httpx.Client(base_url=base, headers=KEY, timeout=10) as http:
        assert http.get("/v1/credits").json() == {"credits": 10.0}
        assert http.get("/v1/my_finetunes").json() == {"finetunes": ["mine", "theirs"]}
        ultra = operations()["flux-pro-1.1-ultra-finetuned"]
        refused = http.post(ultra.path, json=valid_body(ultra))  # my-finetune: not known here
        assert refused.status_code == 400
        klein = operations()["flux-2-klein-4b"]
        quick = http.post(klein.path, json=valid_body(klein)).json()["polling_url"]
        pro = operations()["flux-2-pro"]
        slow = http.post(pro.path, json=valid_body(pro)).json()["polling_url"]
        for _ in range(100):
            if http.get(quick).json()["status"] == "Ready":
                break
            time.sleep(0.05)
        assert http.get(quick).json()["status"] == "Ready"
        assert http.get(slow).json()["status"] != "Ready"  # 30 s: not in this test's life
        # two tasks of 5 credits spent the 10: the next submit, on any endpoint, is 402
        assert http.post(klein.path, json=valid_body(klein)).status_code == 402


@pytest.mark.parametrize(
    ("flag", "said"),
    [
        ("flux-3=2", "no endpoint named 'flux-3'"),
        ("flux-2-pro", "--duration wants NAME=SECONDS"),
        ("flux-2-pro=-1", "--duration wants NAME=SECONDS"),
        ("flux-2-pro=soon", "--duration wants NAME=SECONDS"),
    ],
)
def test_a_duration_for_no_endpoint_is_bad_input_naming_the_endpoints(flag, said, capsys):
    from flux_canny.cli import main

    assert main(["mock-server", "--duration", flag]) == 2  # bad input: nothing served
    assert said in capsys.readouterr().err
