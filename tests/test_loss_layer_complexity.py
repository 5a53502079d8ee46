"""The loss layer stays readable: no function of ``nn/functional`` or ``_parallel.py`` has a
cyclomatic complexity (radon) above 20."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from radon.complexity import cc_visit

SRC = Path(__file__).resolve().parents[1] / "src" / "lossgrad"
FILES = sorted((SRC / "nn" / "functional").glob("*.py")) + [SRC / "_parallel.py"]
LIMIT = 20


def _all_blocks(blocks: list[Any]) -> list[Any]:
    """Functions, methods and closures, however nested."""
    out = []
    for block in blocks:
        out.append(block)
        out += _all_blocks(list(getattr(block, "methods", ())) + list(getattr(block, "closures", ())))
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_function_above_the_complexity_limit(path):
    blocks = _all_blocks(cc_visit(path.read_text(encoding="utf-8")))
    assert blocks
    too_complex = [
        f"{block.fullname} ({block.complexity})" for block in blocks if block.complexity > LIMIT
    ]
    assert not too_complex, f"{path.name}: {', '.join(too_complex)}"
