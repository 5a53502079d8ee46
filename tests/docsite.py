"""Build the documentation site as a user would, ``mkdocs build --strict``, once per test run."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def built_site() -> Path:
    """The site, built into a temporary folder by the first test that asks (the build runs every
    loss example and draws every curve, so the docs tests share one)."""
    out = Path(tempfile.mkdtemp(prefix="lossgrad-site-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    return build_site(out)


def build_site(out: Path) -> Path:
    """Build the site into ``out``; fail on any warning or on a file written into the repository."""
    before = set(ROOT.iterdir())
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    assert set(ROOT.iterdir()) == before, "the docs build must not write into the repository"
    return out
