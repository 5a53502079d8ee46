"""The catalog writes each formula once, in LaTeX; the terminal's plain text is rendered from it.

The expected strings below are the formulas read aloud in Unicode, written by hand.
"""

from __future__ import annotations

import re

import pytest

from lossgrad import _catalog
from lossgrad._tex import tex_to_text

CASES = [
    (r"\ell = |x - y|", "ℓ = |x − y|"),
    (r"\ell = (x - y)^2", "ℓ = (x − y)²"),
    (r"\frac{\partial \ell}{\partial x} = 2\,(x - y)", "∂ℓ/∂x = 2·(x − y)"),
    (r"\ell = -x_y + \log \sum_j e^{x_j}", "ℓ = −x_y + log Σⱼ exp(xⱼ)"),
    (
        r"\ell = \begin{cases} 0.5\,(x-y)^2/\beta & |x-y| < \beta \\ |x-y| - 0.5\,\beta & "
        r"\text{otherwise} \end{cases}",
        "ℓ = 0.5·(x−y)²/β if |x−y| < β; |x−y| − 0.5·β otherwise",
    ),
    (
        r"\frac{\partial \ell}{\partial x} = \frac{w\,(x-y)}{\max\bigl(x(1-x),\ 10^{-12}\bigr)}",
        "∂ℓ/∂x = w·(x−y)/max(x(1−x), 10⁻¹²)",
    ),
    (r"\ell = \frac{1}{2}\bigl[\log v + (x-y)^2 / v\bigr]", "ℓ = ½[log v + (x−y)² / v]"),
    (r"\frac{a + b}{c\,d}", "(a + b)/(c·d)"),
    (r"d(u, v) = \lVert u - v + \varepsilon \rVert_p", "d(u, v) = ‖u − v + ε‖ₚ"),
    (r"(1 - p_t)^{\gamma-1}", "(1 − pₜ)^(γ−1)"),
    (r"\sum_{i \ne y} h_i", "Σ_{i ≠ y} hᵢ"),
    (r"\sigma(x)\quad\text{(where active)}", "σ(x)  (where active)"),
    (r"\operatorname{softmax}(x) - \operatorname{onehot}(y)", "softmax(x) − onehot(y)"),
    (r"\sqrt{x^2 + 1}", "√(x² + 1)"),
    (r"\mathbb{E}[\overline{x}] \odot p^\star", "𝔼[x̄] ⊙ p^⋆"),
    (r"\langle p, z\rangle - \binom{n}{2}", "⟨p, z⟩ − C(n, 2)"),
]


@pytest.mark.parametrize(("tex", "text"), CASES, ids=[t for _, t in CASES])
def test_tex_to_text(tex, text):
    assert tex_to_text(tex) == text


def test_unknown_commands_are_refused():
    with pytest.raises(ValueError, match=r"no plain text for \\mathfrak"):
        tex_to_text(r"x \in \mathfrak{g}")
    with pytest.raises(ValueError, match=r"no plain text for \\mathbb\{Q\}"):
        tex_to_text(r"x \in \mathbb{Q}")


@pytest.mark.parametrize("entry", _catalog.CATALOG, ids=lambda e: e.key)
def test_each_formula_is_written_once(entry):
    """The plain text of every loss is its LaTeX rendered, and reads as plain text; torch's
    losses state ℓ and its derivative (the other families may name a divergence or a distance,
    or say in words how the gradient is taken)."""
    assert entry.formula == tex_to_text(entry.tex)
    assert entry.gradient == tex_to_text(entry.tex_gradient)
    for text in (entry.formula, entry.gradient):
        plain = re.sub(r"[_#]\{[^{}]*\}", "", text)  # subscripts such as Σ_{i ≠ y} stay braced
        assert not re.search(r"[\\{}&\x00-\x1f]", plain), text
        if entry.family not in _catalog.EXTENSION_FAMILIES:
            assert text.startswith(("ℓ", "∂")), text


def test_an_entry_may_still_pass_its_own_text():
    base = _catalog.find("mse")
    fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
    own = _catalog.Loss(**{**fields, "formula": "l = (x - y)^2", "gradient": ""})
    assert own.formula == "l = (x - y)^2" and own.gradient == base.gradient
