"""The documentation site builds with ``mkdocs build --strict``, and its numbers are lossgrad's.

The build runs the docs hook: every loss section, curve and code output is produced by the
library at build time, so the checks below compare the built pages with the library.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from docsite import built_site
from lossgrad import _catalog

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site() -> Path:
    return built_site()


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def test_every_loss_has_its_section_and_curve(site):
    for entry in _catalog.CATALOG:
        page = site / "losses" / entry.family / "index.html"
        source = page.read_text(encoding="utf-8")
        assert f'id="{entry.key}"' in source, entry.key
        if entry.available():
            svg = site / "img" / "curves" / f"{entry.key}.svg"
            assert svg.read_bytes().lstrip().startswith(b"<?xml"), entry.key
            assert f"img/curves/{entry.key}.svg" in source
            # the example's output on the page is what lossgrad computes now (each line of a
            # long repr commented)
            shown = repr(_catalog.run_example(entry).output).splitlines()
            assert "\n".join(f"# {line}" for line in shown) in _text(page), entry.key


def test_pages_follow_the_tutorial_and_show_real_outputs(site):
    nav = [
        "concepts/loss-cost-objective",
        "concepts/graph",
        "concepts/accumulation",
        "concepts/no-grad",
    ]
    for name in nav:
        assert (site / name / "index.html").exists(), name
    start = _text(site / "getting-started" / "index.html")
    import lossgrad as torch

    loss = torch.nn.MSELoss()
    inp = torch.tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)
    output = loss(inp, torch.tensor([[0.0, 1.0], [1.5, 0.5]]))
    output.backward()
    assert repr(output) in start and repr(inp.grad) in start
    graph = _text(site / "concepts" / "graph" / "index.html")
    assert "True True" in graph  # the hand-derived gradient equals the graph's


def test_api_reference_renders_the_docstrings(site):
    api = _text(site / "api" / "plot" / "index.html")
    assert "plot_losses" in api and "Overlay the curves of several losses" in api
    functional = _text(site / "api" / "functional" / "index.html")
    assert "mse_loss" in functional and "Mean squared error" in functional
    assert (site / "benchmarks" / "index.html").exists()


def _article(page: Path) -> str:
    """The text of a page's main content (no navigation, no scripts)."""
    source = page.read_text(encoding="utf-8")
    article = source[source.index("<article") : source.index("</article>")]
    return html.unescape(re.sub(r"<[^>]+>", " ", article))


API_PAGES = ["api/functional", "api/modules", "api/plot"]


@pytest.mark.parametrize("name", API_PAGES)
def test_api_pages_show_what_a_user_calls(site, name):
    """No design-document sections, private names or unrendered Sphinx roles on the API pages."""
    text = _article(site / name / "index.html")
    assert not re.findall(r"§\s*\d|DESIGN\.md|design doc", text, re.I), name
    private = set(re.findall(r"(?<![\w|])_{1,2}[A-Za-z]\w+", text))
    assert not private, f"{name} shows private names: {sorted(private)}"
    assert not re.findall(r"[\w.]+\._[A-Za-z]\w*", text), name
    assert not re.findall(r":(?:func|class|meth|mod|attr|exc):", text), name


def test_api_pages_list_every_loss_by_its_public_name(site):
    functional = _text(site / "api" / "functional" / "index.html")
    modules = _text(site / "api" / "modules" / "index.html")
    for entry in _catalog.CATALOG:
        if entry.available():
            assert entry.functional is None or entry.functional in functional, entry.key
            assert entry.module is None or entry.module in modules, entry.key
    for title in _catalog.FAMILIES.values():
        assert title in functional


def test_a_module_only_loss_is_shown_as_its_module(site):
    """torch has AdaptiveLogSoftmaxWithLoss only as a module: its section names the module and
    its constructor, no functional, and the API reference lists it among the language losses."""
    entry = _catalog.find("AdaptiveLogSoftmaxWithLoss")
    page = " ".join(_text(site / "losses" / "language" / "index.html").split())
    start = page.index(f"{entry.summary} lossgrad:")
    section = page[start : page.index("Torch's edge policies", start)]
    assert f"lossgrad: nn.AdaptiveLogSoftmaxWithLoss. torch: {entry.torch_name}." in section
    assert "nn.AdaptiveLogSoftmaxWithLoss( in_features, n_classes, cutoffs, div_value=4.0," in (
        section
    )
    assert "F." not in section
    assert f"at div_value=1.0 ({entry.curve.note})" in section
    source = (site / "api" / "modules" / "index.html").read_text(encoding="utf-8")
    module_id = 'id="lossgrad.nn.modules.loss_language.AdaptiveLogSoftmaxWithLoss"'
    assert (
        source.index('id="language-models"') < source.index(module_id) < source.index('id="other"')
    )


def test_api_parameters_are_one_entry_each(site):
    """The legacy flags are two parameters (each defaulting to None), never one 'a, b' entry."""
    for name in ("functional", "modules"):
        text = _article(site / "api" / name / "index.html")
        assert "size_average, reduce" not in " ".join(text.split()), name


def test_signatures_have_one_parameter_per_line(site):
    for name in ("functional", "modules"):
        source = (site / "api" / name / "index.html").read_text(encoding="utf-8")
        blocks = re.findall(r'class="doc-signature[^"]*">(.*?)</code>', source, re.S)
        assert blocks, name
        for block in blocks:
            lines = html.unescape(re.sub(r"<[^>]+>", "", block)).splitlines()
            assert max(map(len, lines)) <= 64, lines


def test_loss_sections_have_shape_references_and_the_picture_note(site):
    for family in _catalog.FAMILIES:
        text = " ".join(_text(site / "losses" / family / "index.html").split())
        for entry in _catalog.by_family(family):
            if family not in _catalog.EXTENSION_FAMILIES:  # torch's losses and the focal ones
                assert entry.shape and entry.references, entry.key
            assert " ".join(entry.shape.split()) in text, entry.key
            for reference in entry.references:
                assert " ".join(reference.split()) in text, entry.key
    focal = " ".join(_text(site / "losses" / "classification" / "index.html").split())
    assert "gamma=2.0" in focal and _catalog.find("focal").curve.note in focal


def test_pages_load_nothing_from_another_site(site):
    for page in site.rglob("*.html"):
        source = page.read_text(encoding="utf-8")
        outside = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', source)
        assert not outside, f"{page.relative_to(site)}: {outside}"
    assert (site / "vendor" / "katex" / "katex.min.js").is_file()
    assert len(list((site / "vendor" / "katex" / "fonts").glob("*.woff2"))) == 20


def test_benchmarks_page_opens_with_the_summary_and_the_chart(site):
    source = (site / "benchmarks" / "index.html").read_text(encoding="utf-8")
    article = source[source.index("<article") :]
    summary = article.index("geometric mean of the ratios")
    chart = article.index('src="../img/benchmarks.svg"')
    table = article.index("<table")
    method = article.index("How it is measured")
    assert summary < chart < table < method
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    row = re.compile(r"^\| (?!case \|)[^|]+ \| [^|]* \| [^|]* \| (\d+\.\d+) \| (\d+\.\d+) \|", re.M)
    ratios = []
    sections = {"torch's losses, against torch": "## torch's losses"}
    sections["Losses beyond torch, against the libraries that define them"] = "## Losses beyond"
    for title, heading in sections.items():
        start = page.index(heading)
        end = page.index("\n## ", start + len(heading))
        rows = [(float(a), float(b)) for a, b in row.findall(page[start:end])]
        ratios += rows
        stated = re.search(
            rf"\*\*{re.escape(title)}\*\* \((\d+) rows\).*?Rows above 1\.0:\s+(\d+) by default.*?"
            r"and (\d+) at one thread",
            page,
            re.S,
        )
        assert stated and int(stated.group(1)) == len(rows)
        assert int(stated.group(2)) == sum(a > 1.0 for a, _ in rows)
        assert int(stated.group(3)) == sum(b > 1.0 for _, b in rows)
    svg = (site / "img" / "benchmarks.svg").read_text(encoding="utf-8")
    assert svg.count('id="patch_') >= len(ratios)  # one bar per row (and the axes' frame)
