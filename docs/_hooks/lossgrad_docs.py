"""MkDocs hook: lossgrad writes the loss pages, their curves and the code outputs at build time.

Markers in the Markdown sources:

* ``<!-- lossgrad:family NAME -->``: one section per loss of the family (formula, gradient,
  Shape, signatures with this build's defaults, the curve, torch's edge policies, an example and
  its output, references), from ``lossgrad._catalog``.
* ``<!-- lossgrad:overview NAME -->``: the family's losses overlaid, with their gradients.
* ``<!-- lossgrad:table -->``: every loss with its summary and its torch equivalent.
* ``<!-- lossgrad:api functional -->`` / ``<!-- lossgrad:api modules -->``: the API reference
  of what a user calls, ``lossgrad.nn.functional.*`` / ``lossgrad.nn.*``, family by family.
* ``<!-- lossgrad:benchmark-chart -->``: a chart of the ratios in the page's table.
* ``<!-- lossgrad:run -->`` just before a ```` ```python ```` block: the block is executed (one
  namespace per page) and its printed output is shown below it; an exception fails the build.

Curves are SVG files added to the site as generated files (``img/curves/KEY.svg``).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import textwrap
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

from lossgrad import _catalog
from lossgrad.plot import plot_loss, plot_losses

_MARKER = re.compile(r"<!-- lossgrad:(family|overview) (\w+) -->")
_API = re.compile(r"<!-- lossgrad:api (functional|modules) -->")
_TABLE = "<!-- lossgrad:table -->"
_CHART = "<!-- lossgrad:benchmark-chart -->"
_RUN = re.compile(r"<!-- lossgrad:run -->\n```python\n(.*?)```", re.S)
_ROW = re.compile(r"^\| (?P<case>[^|]+?) \| [^|]* \| [^|]* \| (?P<ratio>\d+\.\d+) \|", re.M)
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
    benchmarks = Path(config["docs_dir"]) / "benchmarks.md"
    if benchmarks.is_file():
        chart = _benchmark_chart(benchmarks.read_text(encoding="utf-8"))
        files.append(File.generated(config, "img/benchmarks.svg", content=chart))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    depth = page.file.src_uri.count("/")
    root = "../" * depth
    markdown = _MARKER.sub(lambda m: _expand(m.group(1), m.group(2), root), markdown)
    markdown = _API.sub(lambda m: _api(m.group(1)), markdown)
    markdown = markdown.replace(_TABLE, _table(root))
    markdown = markdown.replace(
        _CHART,
        f"![lossgrad / reference time ratio of every benchmark row]({root}img/benchmarks.svg)",
    )
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
    names = ", ".join(f"`{name}`" for name in e.lossgrad_names("nn", "F"))
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
    if e.shape:
        out += [f"**Shape**: {_code_shapes(e.shape)}", ""]
    if not e.available():
        missing = e.missing()
        absent = " and ".join(f"`{name}`" for name in missing)
        verb = "is" if len(missing) == 1 else "are"
        out += [
            '!!! warning "Not in this build"',
            f"    {absent} {verb} not defined in this build.",
            "",
        ]
    else:
        out += ["```python", *e.signatures(one_per_line=True), "```", ""]
        out += _curve_lines(e, root)
    out += ["Torch's edge policies, which lossgrad follows:" if e.in_torch else "Edge cases:", ""]
    out += [f"- {note}" for note in e.notes]
    out += ["", "Example:", "", "```python", e.program().rstrip(), "print(output)"]
    if e.available():
        out.append(textwrap.indent(repr(_catalog.run_example(e).output), "# "))
    out += ["```", ""]
    if e.references:
        out += ["References:", ""] + [f"- {reference}" for reference in e.references] + [""]
    return "\n".join(out)


def _code_shapes(shape: str) -> str:
    """The Shape line with each shape, ``(N, C)``, set as code."""
    return re.sub(r"\((?:[^()]|\(\))*\)", lambda m: f"`{m.group(0)}`", shape)


def _curve_lines(e: _catalog.Loss, root: str) -> list[str]:
    params = ", ".join(f"`{k}={v!r}`" for k, v in e.tunable().items()) or "none"
    drawn = ", ".join(f"`{k}={v!r}`" for k, v in e.curve.params.items())
    note = e.curve.note
    at = f" at {drawn} ({note})" if drawn else (f" ({note})" if note else "")
    return [
        f"![{e.title} and its gradient]({root}img/curves/{e.key}.svg)",
        "",
        f"Drawn along the {e.curve.xlabel.format(**e.curve.settings)}{at}; "
        f"`lossgrad plot {e.key} --grad` options: {params}.",
        "",
    ]


# -- the API reference -----------------------------------------------------------------------------


def _api(kind: str) -> str:
    """``:::`` directives for each public function (or loss module) in the catalog's family order,
    then the other public names of the same files (distances, aliases), at their defining path."""
    sections: dict[str, list[str]] = {}
    seen: set[str] = set()
    for family, title in _catalog.FAMILIES.items():
        for entry in _catalog.by_family(family):
            obj = entry.function() if kind == "functional" else entry.module_class()
            if obj is not None:
                sections.setdefault(title, []).append(f"{obj.__module__}.{obj.__name__}")
                seen.add(obj.__name__)
    others = sections.setdefault("Other functions" if kind == "functional" else "Other", [])
    for module_name in _api_modules(kind, sections):
        for name in importlib.import_module(module_name).__all__:
            if name not in seen:
                others.append(f"{module_name}.{name}")
                seen.add(name)
    out = []
    for title, paths in sections.items():
        if paths:
            out += [f"## {title}", ""]
            out += [f"::: {path}\n    options:\n      heading_level: 3\n" for path in paths]
    return "\n".join(out)


def _api_modules(kind: str, sections: dict[str, list[str]]) -> list[str]:
    modules = {path.rsplit(".", 1)[0]: None for paths in sections.values() for path in paths}
    if kind == "functional":
        modules["lossgrad.nn.functional.distance"] = None
    return list(modules)


# -- the benchmarks page ---------------------------------------------------------------------------


def _benchmark_chart(page: str) -> bytes:
    """Horizontal bars of the ratio lossgrad / reference (default threads) of each row of the
    benchmarks tables."""
    from matplotlib.figure import Figure

    rows = [(m["case"], float(m["ratio"])) for m in _ROW.finditer(page)]
    fig = Figure(figsize=(8.0, 0.8 + 0.16 * len(rows)), layout="constrained")
    ax = fig.subplots()
    names = [name for name, _ in rows][::-1]
    ratios = [ratio for _, ratio in rows][::-1]
    colors = ["#c0392b" if ratio > 1.0 else "#2e86c1" for ratio in ratios]
    ax.barh(range(len(rows)), ratios, color=colors, height=0.7)
    ax.axvline(1.0, color="black", linewidth=1.0)
    ax.set_yticks(range(len(rows)), names, fontsize=7)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("time lossgrad / time torch (below 1: lossgrad is faster; red: above 1)")
    ax.grid(True, axis="x", alpha=0.3)
    return _svg(fig)


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
