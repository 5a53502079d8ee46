"""Griffe extension: read a docstring's ``Example:`` section as ``Examples:`` (doctest code).

The house style (DESIGN.md) heads each docstring's doctest with ``Example:``; Google style reads
that as an admonition of plain text, so the API pages would show ``>>>`` lines as prose.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
