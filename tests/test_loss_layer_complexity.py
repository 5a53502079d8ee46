"""The loss layer stays readable: no function of ``nn/functional`` or ``_parallel.py`` has a
cyclomatic complexity (radon) above 20."""

from __future__ import annotations

import ast
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


# -- a pointwise loss is its math: at most POINTWISE_LINES lines of its own ---------------------

#: The bound on a pointwise loss's own code (the issue asks for about 40).
POINTWISE_LINES = 40

#: Each pointwise loss: its module, its functional and the specs that are its own (a spec that
#: another loss reuses, as multilabel_soft_margin reuses binary_cross_entropy_with_logits's, is
#: the owner's code, and the reuser's walk stops there).
POINTWISE_LOSSES = {
    "l1_loss": ("loss_regression", ("_L1",)),
    "mse_loss": ("loss_regression", ("_MSE",)),
    "smooth_l1_loss": ("loss_regression", ("_SMOOTH_L1", "_SMOOTH_L1_ZERO_BETA")),
    "huber_loss": ("loss_regression", ("_HUBER",)),
    "binary_cross_entropy": ("loss_probability", ("_BCE",)),
    "binary_cross_entropy_with_logits": ("loss_probability", ("_BCE_WITH_LOGITS",)),
    "multilabel_soft_margin_loss": ("loss_probability", ()),
    "soft_margin_loss": ("loss_probability", ("_SOFT_MARGIN",)),
    "kl_div": ("loss_probability", ("_KL_DIV",)),
    "poisson_nll_loss": ("loss_probability", ("_POISSON_NLL",)),
    "gaussian_nll_loss": ("loss_probability", ("_GAUSSIAN_NLL",)),
    "hinge_embedding_loss": ("loss_margin", ("_HINGE_EMBEDDING",)),
    "margin_ranking_loss": ("loss_margin", ("_MARGIN_RANKING",)),
    "sigmoid_focal_loss": ("loss_classification", ("_SIGMOID_FOCAL",)),
}


def _definitions(tree: ast.Module) -> dict[str, ast.stmt]:
    """The module's top-level functions, classes and assigned names."""
    found: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node
    return found


def _docstring_lines(node: ast.AST) -> set[int]:
    """The lines of the docstrings of ``node`` and of the functions and classes inside it."""
    lines: set[int] = set()
    for inner in ast.walk(node):
        body = getattr(inner, "body", None)
        if isinstance(inner, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if isinstance(first.value.value, str):
                    lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def _code_lines(node: ast.stmt, source: list[str]) -> int:
    """Lines of ``node`` that are not blank, not a comment and not in a docstring."""
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    docstrings = _docstring_lines(node)
    return sum(
        1
        for number in range(start, node.end_lineno + 1)
        if number not in docstrings and source[number - 1].strip()
        and not source[number - 1].strip().startswith("#")
    )


def _uses(node: ast.AST, names: set[str]) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in names}


def _reach(roots: set[str], definitions: dict[str, ast.stmt], stop: set[str]) -> set[str]:
    """The definitions ``roots`` use, directly or not, not walking into ``stop``."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in stop and name not in roots:
            continue
        todo += _uses(definitions[name], set(definitions)) - seen
    return seen


def pointwise_loss_lines(loss: str) -> int:
    """The lines of ``loss``'s own code: its functional, its specs and every private
    definition of its module that they use and that no other public function (nor another
    loss's spec) of the module uses. Shared helpers are machinery, counted for none."""
    module, specs = POINTWISE_LOSSES[loss]
    path = SRC / "nn" / "functional" / f"{module}.py"
    text = path.read_text(encoding="utf-8")
    tree, source = ast.parse(text), text.splitlines()
    definitions = _definitions(tree)
    other_specs = {
        spec
        for other, (other_module, own) in POINTWISE_LOSSES.items()
        if other != loss and other_module == module
        for spec in own
    }
    roots = {loss, *specs}
    mine = _reach(roots, definitions, other_specs)
    public = [
        name
        for name, node in definitions.items()
        if not name.startswith("_") and isinstance(node, (ast.FunctionDef, ast.ClassDef))
    ]
    others = set()
    for name in public:
        if name != loss:
            other_roots = {name, *POINTWISE_LOSSES.get(name, (None, ()))[1]}
            others |= _reach(other_roots, definitions, other_specs | set(specs))
    owned = {name for name in mine if name in roots or name not in others}
    nodes = {id(definitions[name]): definitions[name] for name in owned}
    return sum(_code_lines(node, source) for node in nodes.values())


@pytest.mark.parametrize("loss", sorted(POINTWISE_LOSSES))
def test_a_pointwise_loss_is_at_most_forty_lines_of_its_own(loss):
    lines = pointwise_loss_lines(loss)
    assert lines <= POINTWISE_LINES, f"{loss}: {lines} lines of its own"
