"""The typing declarations in ``Tensor``'s ``if TYPE_CHECKING:`` block match what runs.

Tensor's operators and bulk-bound methods are assigned after the class body (see the bottom of
``lossgrad/_tensor.py``); the class declares them for type checkers only. These tests read those
declarations from the source and compare them with the functions actually bound.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lossgrad
from lossgrad._tensor import Tensor
from lossgrad.ops import _METHODS


def _declared() -> dict[str, ast.FunctionDef]:
    tree = ast.parse(Path(inspect.getfile(Tensor)).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    block = next(
        n
        for n in cls.body
        if isinstance(n, ast.If) and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING"
    )
    return {n.name: n for n in block.body if isinstance(n, ast.FunctionDef)}


DECLARED = _declared()
BOUND = [name for names in _METHODS.values() for name in names.split()]


def _params(fn: ast.FunctionDef) -> list[tuple[str, str, str | None, bool]]:
    """(kind, name, annotation, has default) per parameter after ``self``."""
    a = fn.args
    pos = a.posonlyargs + a.args
    defaults = [False] * (len(pos) - len(a.defaults)) + [True] * len(a.defaults)
    out = [("POSITIONAL_OR_KEYWORD", p.arg, _ann(p), d) for p, d in zip(pos, defaults, strict=True)]
    if a.vararg is not None:
        out.append(("VAR_POSITIONAL", a.vararg.arg, _ann(a.vararg), False))
    for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        out.append(("KEYWORD_ONLY", p.arg, _ann(p), d is not None))
    if a.kwarg is not None:
        out.append(("VAR_KEYWORD", a.kwarg.arg, _ann(a.kwarg), False))
    return out[1:]


def _ann(p: ast.arg) -> str | None:
    return None if p.annotation is None else ast.unparse(p.annotation)


def _runtime_params(fn: Callable[..., Any]) -> list[tuple[str, str, str | None, bool]]:
    sig = inspect.signature(fn)
    return [
        (
            p.kind.name,
            p.name,
            None if p.annotation is p.empty else str(p.annotation),
            p.default is not p.empty,
        )
        for p in list(sig.parameters.values())[1:]
    ]


@pytest.mark.parametrize("name", BOUND)
def test_bound_method_declared_with_its_functional_signature(name: str) -> None:
    assert name in DECLARED, f"Tensor.{name} is bound by ops.bind_methods but not declared"
    fn = getattr(Tensor, name)
    stub = DECLARED[name]
    assert _params(stub) == _runtime_params(fn)
    assert stub.returns is not None
    assert ast.unparse(stub.returns) == inspect.signature(fn).return_annotation


@pytest.mark.parametrize(
    "name",
    ["__add__", "__sub__", "__mul__", "__truediv__", "__pow__", "__matmul__", "__neg__"]
    + ["__getitem__"],
)
def test_operator_declared_with_its_functional_positional_signature(name: str) -> None:
    runtime = [p for p in _runtime_params(getattr(Tensor, name)) if p[0] != "KEYWORD_ONLY"]
    assert _params(DECLARED[name]) == runtime


def test_every_declaration_exists_at_runtime() -> None:
    assert [n for n in DECLARED if not hasattr(Tensor, n)] == []


def test_declared_methods_work_on_a_tensor() -> None:
    x = lossgrad.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert x.where(x > 0, 0.0).tolist() == [[1.0, 0.0], [3.0, 4.0]]
    assert (x + 1).sum().item() == 10.0
