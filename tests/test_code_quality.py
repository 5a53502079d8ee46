"""Code-quality gates that read the source: no function or method of the package is too
branchy to follow (radon's cyclomatic complexity)."""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_visit
from radon.visitors import Function

import lossgrad

#: The highest cyclomatic complexity a function or method may have.
MAX_COMPLEXITY = 20
PACKAGE = Path(lossgrad.__file__).resolve().parent


def _functions(code: str) -> list[Function]:
    """Every function and method in ``code`` (radon lists a class's methods after the class;
    the class's own score, a sum over its methods, is not a function's and is left out)."""
    return [block for block in cc_visit(code) if isinstance(block, Function)]


def complex_functions(root: Path = PACKAGE, limit: int = MAX_COMPLEXITY) -> list[str]:
    """``path:line name (complexity)`` for each function under ``root`` above ``limit``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for block in _functions(path.read_text(encoding="utf-8")):
            if block.complexity > limit:
                name = f"{block.classname}.{block.name}" if block.classname else block.name
                where = path.relative_to(root.parent)
                found.append(f"{where}:{block.lineno} {name} ({block.complexity})")
    return found


def test_no_function_is_above_the_complexity_limit():
    too_complex = complex_functions()
    assert not too_complex, (
        f"cyclomatic complexity above {MAX_COMPLEXITY} (radon cc); split these:\n"
        + "\n".join(too_complex)
    )


def test_the_gate_sees_a_branchy_function(tmp_path):
    """The check is live: a function with 21 branches is reported, one with 20 is not."""
    body = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(20))
    (tmp_path / "branchy.py").write_text(f"def branchy(x):\n{body}    return -1\n")
    (tmp_path / "fine.py").write_text(f"def fine(x):\n{body[: body.rindex('    if')]}    return -1\n")
    assert [line.split()[1:] for line in complex_functions(tmp_path)] == [["branchy", "(21)"]]
