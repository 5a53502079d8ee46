"""Griffe extension: docstrings as a user reads them on the API pages.

* A docstring's ``Example:`` section is read as ``Examples:`` (doctest code): the house style
  heads each docstring's doctest with ``Example:``, which Google style reads as an admonition of
  plain text, so the API pages would show ``>>>`` lines as prose.
* Sphinx roles (``:func:`l1_loss```, ``:class:`~matplotlib.figure.Figure```), which Markdown
  does not render, become code: ``l1_loss``, ``Figure``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj):`(~?)([^`]+)`")


def _role_as_code(match: re.Match[str]) -> str:
    target = match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = _ROLE.sub(_role_as_code, text)
