"""The CLI fixtures, for the probe command's tests."""

from ..cli.conftest import fake, run, workdir  # noqa: F401
