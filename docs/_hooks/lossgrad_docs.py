"""MkDocs hook: lossgrad writes the loss pages, their curves and the code outputs at build time.

Markers in the Markdown sources:

* ``<!-- lossgrad:family NAME -->``: one section per loss of the family (formula, gradient,
  signatures with this build's defaults, torch's edge policies, the curve, an example and its
  output), from ``lossgrad._catalog``.
* ``<!-- lossgrad:overview NAME -->``: the family's losses overlaid, with their gradients.
* ``<!-- lossgrad:table -->``: every loss with its summary and its torch equivalent.
* ``<!-- lossgrad:run -->`` just before a ```` ```python ```` block: the block is executed (one
  namespace per page) and its printed output is shown below it; an exception fails the build.

Curves are SVG files added to the site as generated files (``img/curves/KEY.svg``).
"""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from typing import Any

from mkdocs.structure.files import File, Files

from lossgrad import _catalog
from lossgrad.plot import plot_loss, plot_losses

_MARKER = re.compile(r"<!-- lossgrad:(family|overview) (\w+) -->")
_TABLE = "<!-- lossgrad:table -->"
_RUN = re.compile(r"<!-- lossgrad:run -->\n```python\n(.*?)```", re.S)
_POINTS = 201


def _svg(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def on_files(files: Files, config: Any) -> Files:
    for entry in _catalog.CATALOG:
        if entry.available():
            fig = plot_loss(entry.key, grad=True, points=_POINTS, figsize=(9.0, 3.2))
            files.append(File.generated(config, f"img/curves/{entry.key}.svg", content=_svg(fig)))
    for family in _catalog.FAMILIES:
        keys = [e.key for e in _catalog.by_family(family) if e.available()]
        if keys:
            fig = plot_losses(keys, grad=True, points=_POINTS)
            files.append(
                File.generated(config, f"img/curves/family_{family}.svg", content=_svg(fig))
            )
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    depth = page.file.src_uri.count("/")
    root = "../" * depth
    markdown = _MARKER.sub(lambda m: _expand(m.group(1), m.group(2), root), markdown)
    markdown = markdown.replace(_TABLE, _table(root))
    namespace: dict[str, Any] = {}
    return _RUN.sub(lambda m: _run(m.group(1), namespace, page.file.src_uri), markdown)


def _expand(kind: str, family: str, root: str) -> str:
    if family not in _catalog.FAMILIES:
        raise ValueError(f"unknown loss family {family!r} in a lossgrad marker")
    if kind == "overview":
        if not any(e.available() for e in _catalog.by_family(family)):
            return ""
        return f"![The {family} losses and their gradients]({root}img/curves/family_{family}.svg)\n"
    return "\n".join(_section(e, root) for e in _catalog.by_family(family))


def _table(root: str) -> str:
    rows = ["| Loss | Summary | torch |", "|---|---|---|"]
    for e in _catalog.CATALOG:
        link = f"{root}losses/{e.family}.md#{e.key}"
        rows.append(f"| [`{e.title}`]({link}) | {e.summary} | {e.torch_name} |")
    return "\n".join(rows) + "\n"


def _section(e: _catalog.Loss, root: str) -> str:
    names = (f"`nn.{e.module}`, " if e.module else "") + f"`F.{e.functional}`"
    out = [
        f"## {e.title} {{#{e.key}}}",
        "",
        f"{e.summary} lossgrad: {names}. "
        + (f"torch: `{e.torch_name}`." if e.in_torch else "A lossgrad extension: torch has none."),
        "",
        "Unreduced loss:",
        "",
        f"$$\n{e.tex}\n$$",
        "",
        "Gradient:",
        "",
        f"$$\n{e.tex_gradient}\n$$",
        "",
    ]
    if not e.available():
        out += [
            '!!! warning "Not in this build"',
            f"    `lossgrad.nn.functional.{e.functional}` is not defined in this build.",
            "",
        ]
    else:
        params = ", ".join(f"`{k}={v!r}`" for k, v in e.tunable().items()) or "none"
        out += [
            "```python",
            *e.signatures(),
            "```",
            "",
            f"![{e.title} and its gradient]({root}img/curves/{e.key}.svg)",
            "",
            f"Drawn along the {e.curve.xlabel.format(**e.curve.settings)}; "
            f"`lossgrad plot {e.key} --grad` options: {params}.",
            "",
        ]
    out += ["Torch's edge policies, which lossgrad follows:" if e.in_torch else "Edge cases:", ""]
    out += [f"- {note}" for note in e.notes]
    out += ["", "Example:", "", "```python", e.program().rstrip(), "print(output)"]
    if e.available():
        out.append(textwrap.indent(repr(_catalog.run_example(e).output), "# "))
    out += ["```", ""]
    return "\n".join(out)


def _run(code: str, namespace: dict[str, Any], where: str) -> str:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        try:
            exec(compile(code, f"<{where}>", "exec"), namespace)
        except Exception as e:
            raise RuntimeError(
                f"a lossgrad:run block of {where} failed: {type(e).__name__}: {e}"
            ) from e
    block = f"```python\n{code}```\n"
    printed = stdout.getvalue()
    return block + (f"\nOutput:\n\n```text\n{printed}```\n" if printed else "")
