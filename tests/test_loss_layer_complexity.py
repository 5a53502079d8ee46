"""The loss layer stays readable: no function of ``nn/functional`` or ``_parallel.py`` has a
cyclomatic complexity (radon) above 20."""

from __future__ import annotations

from pathlib import Path

import pytest
from radon.complexity import cc_visit

SRC = Path(__file__).resolve().parents[1] / "src" / "lossgrad"
FILES = sorted((SRC / "nn" / "functional").glob("*.py")) + [SRC / "_parallel.py"]
LIMIT = 20


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_function_above_the_complexity_limit(path):
    blocks = cc_visit(path.read_text(encoding="utf-8"))
    too_complex = [
        f"{block.fullname} ({block.complexity})" for block in blocks if block.complexity > LIMIT
    ]
    assert not too_complex, f"{path.name}: {', '.join(too_complex)}"
