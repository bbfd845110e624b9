"""What a user installs and imports: a light core, extras that say when they are missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: what the core must not load: the extras' modules, and the journal's old lock library
OPTIONAL = ("click", "rich", "pygments", "jsonschema", "numpy", "PIL", "filelock", "platformdirs")

_BLOCK = """
import sys
class _Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
BLOCKED = set(sys.argv[1].split(","))
sys.meta_path.insert(0, _Missing())
"""


def _python(code: str, blocked: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter in which `blocked` modules are not installed."""
    return subprocess.run(
        [sys.executable, "-c", _BLOCK + code, ",".join(blocked) or "-"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "FLUX_CANNY_STATE_DIR": "/nonexistent-never-opened"},
    )


def test_the_core_imports_and_builds_a_client_without_any_extra():
    ran = _python(
        "import json, flux_canny\n"
        "flux = flux_canny.FluxCanny(api_key='k', ledger=False)\n"
        "flux.close()\n"
        "print(json.dumps(sorted(sys.modules)))",
        blocked=OPTIONAL,
    )
    assert ran.returncode == 0, ran.stderr
    loaded = {name.split(".")[0] for name in json.loads(ran.stdout)}
    assert not loaded & set(OPTIONAL)


def test_importing_the_package_loads_no_optional_module_even_when_installed():
    # click, rich and pygments are left out: httpx itself imports its CLI when they exist
    ran = _python("import json, flux_canny; print(json.dumps(sorted(sys.modules)))")
    loaded = {name.split(".")[0] for name in json.loads(ran.stdout)}
    assert not loaded & {"jsonschema", "numpy", "PIL", "filelock", "platformdirs", "cv2"}


def test_the_script_without_the_cli_extra_says_what_to_install():
    ran = _python("from flux_canny._script import main; sys.exit(main())", blocked=("click",))
    assert ran.returncode == 2
    assert ran.stderr == (
        "flux-canny: the command line needs click, which comes with the [cli] extra: "
        "pip install 'flux-canny[cli]' (from a checkout: pip install '.[cli]')\n"
    )


def test_checking_responses_without_the_conformance_extra_is_refused_before_any_request():
    ran = _python(
        "import flux_canny\n"
        "try:\n"
        "    flux_canny.FluxCanny(api_key='k', ledger=False, check_responses=True)\n"
        "except flux_canny.ConfigurationError as error:\n"
        "    print(error)\n",
        blocked=("jsonschema",),
    )
    assert "pip install 'flux-canny[conformance]'" in ran.stdout, ran.stderr


def test_images_without_the_images_extra_say_what_to_install(tmp_path):
    ran = _python(
        "import flux_canny\n"
        "from flux_canny.images import GeneratedImage\n"
        "try:\n"
        "    GeneratedImage(data=b'x', format='png').to_pil()\n"
        "except flux_canny.FluxCannyError as error:\n"
        "    print(type(error).__name__, error)\n",
        blocked=("PIL",),
    )
    assert "pip install 'flux-canny[images]'" in ran.stdout, ran.stderr


def _site_packages_size(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


@pytest.mark.skipif(
    "config.getoption('hypothesis_profile') != 'thorough'",
    reason="installs from PyPI into a fresh venv: make test-thorough",
)
def test_a_plain_install_is_small_and_its_import_is_light(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    before = _site_packages_size(site)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(ROOT)],
        check=True,
        timeout=600,
    )
    grown = (_site_packages_size(site) - before) / 2**20
    ran = subprocess.run(
        [str(python), "-c", "import sys, json, flux_canny; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {name.split(".")[0] for name in json.loads(ran.stdout)}
    script = subprocess.run(
        [str(env_dir / "bin" / "flux-canny"), "--version"], capture_output=True, text=True
    )
    print(f"site-packages grew by {grown:.1f} MiB")
    assert grown <= 45 and not loaded & set(OPTIONAL)
    assert script.returncode == 2 and "flux-canny[cli]" in script.stderr


def test_the_fake_without_its_extra_says_what_to_install_and_the_plugin_still_loads():
    ran = _python(
        "import flux_canny\n"
        "import flux_canny.fake.pytest_plugin  # what every pytest run in the env loads\n"
        "from flux_canny.fake import FakeBFL\n"
        "try:\n"
        "    FakeBFL()\n"
        "except flux_canny.ConfigurationError as error:\n"
        "    print(error)\n",
        blocked=("numpy",),
    )
    assert "pip install 'flux-canny[fake]'" in ran.stdout, ran.stderr
