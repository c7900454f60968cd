"""The codebase stays ruff-clean (the rules are in pyproject.toml)."""

import shutil
import subprocess

import pytest

from tests.conftest import REPO


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is a test dependency; install '.[test]'")
def test_ruff_clean():
    result = subprocess.run(["ruff", "check", "."], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
