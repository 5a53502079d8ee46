"""Plain text from the catalog's LaTeX, so that each formula is written once.

The docs show a loss's formula in LaTeX (typeset by KaTeX); the terminal (``lossgrad explain``,
``lossgrad tour``) shows the same formula as one line of Unicode text, rendered from the LaTeX by
``tex_to_text``. It reads the small part of LaTeX the catalog uses: fractions, sub- and
superscripts, ``cases``, Greek letters, operator names, norms and spacing.
"""

from __future__ import annotations

import re

# Marks left in the text while reading, resolved by ``_resolve_marks`` once the line is known.
_THIN = "\x01"  # ``\,``: a product dot between two factors, else nothing
_AFTER_WORD = "\x02"  # after an operator name: a space, except before a bracket
_BEFORE_WORD = "\x03"  # before an operator name: a space after a factor
_OPEN_NORM, _CLOSE_NORM = "\x04", "\x05"  # the spaces inside a norm go
_QUAD = "\x06"  # ``\quad``: two spaces

#: Commands written as one symbol.
_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "varepsilon": "ε", "epsilon": "ε",
    "theta": "θ", "lambda": "λ", "mu": "μ", "pi": "π", "sigma": "σ", "tau": "τ", "phi": "φ",
    "ell": "ℓ", "infty": "∞", "sum": "Σ", "prod": "Π", "cdot": "·", "times": "×", "in": "∈",
    "ne": "≠", "neq": "≠", "notin": "∉", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
    "to": "→", "#": "#", "approx": "≈", "lVert": "‖" + _OPEN_NORM, "rVert": _CLOSE_NORM + "‖",
    "Vert": "‖", "mid": "|", "lvert": "|", "rvert": "|", "{": "{", "}": "}", "%": "%", "_": "_",
    ",": _THIN, " ": " ", ";": " ", "!": "", "quad": _QUAD, "qquad": _QUAD,
    "psi": "ψ", "star": "⋆", "top": "ᵀ", "int": "∫", "varnothing": "∅", "odot": "⊙",
    "mp": "∓", "pm": "±", "dots": "…", "ldots": "…", "cdots": "⋯", "|": "‖",
    "langle": "⟨" + _OPEN_NORM, "rangle": _CLOSE_NORM + "⟩",
    "zeta": "ζ", "eta": "η", "kappa": "κ", "nu": "ν", "xi": "ξ", "rho": "ρ", "omega": "ω",
    "chi": "χ", "varphi": "φ", "Delta": "Δ", "Gamma": "Γ", "Phi": "Φ", "Omega": "Ω",
    "Sigma": "Σ", "Lambda": "Λ", "Psi": "Ψ", "cap": "∩", "cup": "∪", "land": "∧", "lor": "∨",
    "setminus": "∖", "subset": "⊂", "subseteq": "⊆", "propto": "∝", "leftarrow": "←",
    "gets": "←", "colon": ":", "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉",
}  # fmt: skip
#: Blackboard letters (``\mathbb{E}``); any other letter is refused.
_BLACKBOARD = {"E": "𝔼", "R": "ℝ", "N": "ℕ", "Z": "ℤ", "P": "ℙ", "1": "𝟙"}
#: Commands written as a symbol that binds to what follows (``\partial \ell`` is ``∂ℓ``).
_PREFIXES = {"partial": "∂", "nabla": "∇"}
#: Operator names: a word, then a space unless a bracket follows.
_WORDS = {
    "log", "exp", "max", "min", "cos", "sin", "tanh", "arg", "sign", "det", "cosh", "sinh", "atan",
    "arctan", "arcsin", "arccos", "ln", "sup", "inf", "lim",
}  # fmt: skip
#: Commands that only size or style the next token.
_DROPPED = {
    "bigl", "bigr", "Bigl", "Bigr", "big", "Big", "left", "right", "displaystyle", "rm",
}  # fmt: skip
#: Commands whose braced argument is shown as it is.
_TEXT = {"operatorname", "mathrm", "text", "textrm", "mathcal", "mathbf", "mathit", "mathsf"}

_SUB = dict(
    zip("0123456789+−=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ", strict=True)
)
_SUP = dict(zip("0123456789+−=()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾", strict=True))

_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}^_&]|\s+|[^\\{}^_&\s]")
_CASES = re.compile(r"\\begin\{cases\}(.*?)\\end\{cases\}", re.S)


def tex_to_text(tex: str) -> str:
    """One line of Unicode text for a LaTeX formula of the catalog.

    Example:
        >>> tex_to_text(r"\\frac{\\partial \\ell}{\\partial x} = \\frac{w\\,(x-y)}{x(1-x)}")
        '∂ℓ/∂x = w·(x−y)/x(1−x)'
        >>> tex_to_text(r"\\ell = \\begin{cases} x & y = 1 \\\\ 0 & \\text{otherwise} \\end{cases}")
        'ℓ = x if y = 1; 0 otherwise'
        >>> tex_to_text(r"\\ell = -x_y + \\log \\sum_j e^{x_j}")
        'ℓ = −x_y + log Σⱼ exp(xⱼ)'
    """
    text = _CASES.sub(lambda m: _cases(m.group(1)), tex)
    return _resolve_marks(_Reader(text).read_all())


def _resolve_marks(text: str) -> str:
    """The line with the marks left by ``_Reader`` turned into dots, spaces or nothing."""
    text = re.sub(f"(?<=[\\w)\\]‖⁰¹²³⁴⁵⁶⁷⁸⁹]){_THIN}\\s*(?=[\\w(\\[‖∂∇])", "·", text)
    text = _without_norm_spaces(text).replace(_THIN, "")
    text = re.sub(f"{_AFTER_WORD}(?=[(\\[{{]|$)", "", text)
    text = re.sub(f"{_AFTER_WORD} ?", " ", text)
    text = re.sub(f"(?<=[\\w)\\]]){_BEFORE_WORD}", " ", text).replace(_BEFORE_WORD, "")
    text = re.sub(f" *{_QUAD} *", _QUAD, re.sub(" {2,}", " ", text))
    return text.replace(_QUAD, "  ").strip()


def _without_norm_spaces(text: str) -> str:
    return re.sub(f"{_OPEN_NORM}\\s*|\\s*{_CLOSE_NORM}", "", text)


def _cases(body: str) -> str:
    rows = []
    for row in body.split(r"\\"):
        value, _, condition = row.partition("&")
        condition = condition.strip()
        if condition in (r"\text{otherwise}", "otherwise"):
            rows.append(f"{value.strip()} \\text{{otherwise}}")
        else:
            rows.append(f"{value.strip()} \\text{{if}} {condition}")
    return r"\text{; }".join(rows)


class _Reader:
    """Reads the tokens of a formula left to right, rendering groups recursively."""

    def __init__(self, tex: str) -> None:
        self.tokens = _TOKEN.findall(tex)
        self.at = 0

    def read_all(self) -> str:
        return self._until(None)

    def _until(self, closing: str | None) -> str:
        out: list[str] = []
        while self.at < len(self.tokens):
            token = self.tokens[self.at]
            self.at += 1
            if token == closing:
                break
            out.append(self._render(token, out))
        return "".join(out)

    def _argument(self) -> str:
        """The next braced group or single token, rendered."""
        while self.at < len(self.tokens) and self.tokens[self.at].isspace():
            self.at += 1
        token = self.tokens[self.at]
        self.at += 1
        return self._until("}") if token == "{" else self._render(token, [])

    def _render(self, token: str, before: list[str]) -> str:
        if token.startswith("\\"):
            return self._command(token)
        if token == "{":
            return self._until("}")
        if token in "^_":
            return _script(self._argument(), _SUP if token == "^" else _SUB, token)
        if token == "-":
            return "−"
        if token == "e" and self._next_is("^") and not _ends_in_letter(before):
            self.at += 1
            return f"exp({self._argument()})"
        return token

    def _command(self, token: str) -> str:
        name = token[1:]
        if name in _PREFIXES:
            while self.at < len(self.tokens) and self.tokens[self.at].isspace():
                self.at += 1
            return _PREFIXES[name]
        if name in _SYMBOLS:
            return _SYMBOLS[name]
        if name in _WORDS:
            return _BEFORE_WORD + name + _AFTER_WORD
        if name in _DROPPED:
            return ""
        if name in _TEXT:
            return self._argument()
        if name == "mathbb":
            letter = self._argument()
            if letter not in _BLACKBOARD:
                raise ValueError(f"tex_to_text: no plain text for \\mathbb{{{letter}}}")
            return _BLACKBOARD[letter]
        if name in ("overline", "bar"):
            return "".join(character + "\u0304" for character in self._argument())
        if name in ("hat", "widehat"):
            return "".join(character + "\u0302" for character in self._argument())
        if name in ("tilde", "widetilde"):
            return "".join(character + "\u0303" for character in self._argument())
        if name == "binom":
            top, bottom = self._argument(), self._argument()
            return f"C({top}, {bottom})"
        if name == "sqrt":
            return f"√{_grouped(self._argument(), '+−·/ ')}"
        if name in ("frac", "tfrac", "dfrac"):
            numerator, denominator = self._argument(), self._argument()
            if (numerator, denominator) == ("1", "2"):
                return "½"
            return f"{_grouped(numerator, '+−')}/{_grouped(denominator, '+−·/ ')}"
        raise ValueError(f"tex_to_text: no plain text for \\{name}")

    def _next_is(self, token: str) -> bool:
        return self.at < len(self.tokens) and self.tokens[self.at] == token


def _ends_in_letter(before: list[str]) -> bool:
    text = "".join(before)
    return bool(text) and text[-1].isalpha()


def _top_level(text: str) -> str:
    """``text`` without what is inside its brackets."""
    depth, kept = 0, []
    for char in text:
        depth += char in "([{"
        if depth == 0:
            kept.append(char)
        depth -= char in ")]}"
    return "".join(kept)


def _grouped(text: str, operators: str) -> str:
    """``text``, in parentheses if an operator stands outside its brackets."""
    text = _without_norm_spaces(text.replace(_THIN, "·")).strip().rstrip(_AFTER_WORD)
    return f"({text})" if any(op in _top_level(text) for op in operators) else text


def _script(text: str, table: dict[str, str], mark: str) -> str:
    """A sub/superscript in Unicode where every character has one, else ``_x``, ``^(…)``."""
    text = text.replace(_THIN, "").strip()
    if text and all(char in table for char in text):
        return "".join(table[char] for char in text)
    if len(text) == 1 or re.fullmatch(r"\w+", text):
        return f"{mark}{text}"
    return f"{mark}({text})" if mark == "^" else f"{mark}{{{text}}}"
