"""The ``lossgrad`` command, run as a subprocess: tour, list, explain, and its errors.

Expected values come from the library (the catalog's examples run in this process, the real
signatures read with inspect) or from torch, never from pasted output.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad import _catalog


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lossgrad", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        encoding="utf-8",
        timeout=120,
    )


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    cwd = tmp_path_factory.mktemp("tour")
    exe = shutil.which("lossgrad")
    assert exe is not None, "the lossgrad console script is not installed (pip install -e .)"
    proc = subprocess.run(
        [exe, "tour"], capture_output=True, text=True, cwd=cwd, encoding="utf-8", timeout=300
    )
    return proc, cwd


def test_tour_runs_every_loss_and_matches_torch(tour):
    proc, _ = tour
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    entries = _catalog.tour_losses()
    assert len(entries) == 16
    for i, entry in enumerate(entries, 1):
        row = [line for line in lines if line.split()[:2] == [str(i), entry.title]]
        assert len(row) == 1, f"no row for {entry.title}"
        mine = _catalog.run_example(entry)
        theirs = _catalog.run_example(entry, "torch")
        assert repr(mine.output) in row[0]
        assert f"✓ {theirs.output.item():.4f}" in row[0], row[0]
        formula_line = lines[lines.index(row[0]) + 1]
        assert formula_line.strip() == entry.formula
    assert "16 of 16 losses match torch" in proc.stdout


def test_tour_linear_model_gradients(tour):
    """The tour's linear model: its printed loss and gradients equal a fresh computation."""
    proc, _ = tour
    lossgrad.manual_seed(0)
    model = lossgrad.nn.Linear(10, 1)
    inputs, targets = lossgrad.randn(16, 10), lossgrad.randn(16, 1)
    loss = lossgrad.nn.MSELoss()(model(inputs), targets)
    loss.backward()
    out = proc.stdout
    assert f"loss          {loss!r}" in out
    assert repr(model.bias.grad) in out
    # torch on the same weights and data gives the same loss, printed in the torch line
    t_model = torch.nn.Linear(10, 1)
    with torch.no_grad():
        t_model.weight.copy_(torch.from_numpy(model.weight.detach().numpy()))
        t_model.bias.copy_(torch.from_numpy(model.bias.detach().numpy()))
    t_loss = torch.nn.MSELoss()(
        t_model(torch.from_numpy(inputs.numpy())), torch.from_numpy(targets.numpy())
    )
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("torch "))
    assert f"{t_loss!r} on the same weights and data" in lines[at]
    assert "max |Δ grad|" in lines[at + 1] and lines[at + 1].rstrip().endswith("✓")
    assert (
        "max |accumulated − full batch|" in out and "requires_grad = False, grad_fn = None" in out
    )


def test_tour_writes_the_figure(tour):
    proc, cwd = tour
    figure = cwd / "smooth_l1_vs_l1.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {figure.name}" in proc.stdout


def _without_matplotlib(tmp_path: Path) -> dict[str, str]:
    """An environment where ``import matplotlib`` fails, as on an install without the extra."""
    fake = tmp_path / "fake" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('matplotlib is hidden for this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(fake.parent), env.get("PYTHONPATH", "")])
    return env


def test_tour_without_matplotlib_says_how_to_get_it(tmp_path):
    proc = run("tour", "--no-torch", cwd=tmp_path, env=_without_matplotlib(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pip install 'lossgrad[plot]'" in proc.stdout
    assert not list(tmp_path.glob("*.png"))
    assert "16 of 16 losses computed" in proc.stdout
    assert "—" in proc.stdout  # the torch column is empty without torch


def test_plot_without_matplotlib_is_one_line(tmp_path):
    proc = run("plot", "mse", cwd=tmp_path, env=_without_matplotlib(tmp_path))
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "lossgrad: lossgrad.plot needs matplotlib: pip install 'lossgrad[plot]'"
    )


def test_list_shows_every_loss():
    proc = run("list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for entry in _catalog.CATALOG:
        row = [line for line in lines if line.split()[:1] == [entry.key]]
        assert len(row) == 1, entry.key
        assert entry.torch_name in row[0] and entry.summary in row[0]
        assert ("[not in this build]" in row[0]) == (not entry.available())
    extensions = [e.key for e in _catalog.CATALOG if not e.in_torch]
    assert {"focal", "sigmoid_focal"} <= set(extensions)
    for title in _catalog.FAMILIES.values():
        assert title in lines


@pytest.mark.parametrize("name", ["SmoothL1Loss", "cross_entropy_loss", "focal", "ctc"])
def test_explain(name):
    entry = _catalog.find(name)
    proc = run("explain", name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.startswith(f"{entry.title}: {entry.summary}")
    assert entry.torch_name in out and entry.formula in out and entry.gradient in out
    for note in entry.notes:
        assert " ".join(note.split()) in " ".join(out.split())
    cls = getattr(lossgrad.nn, entry.module)
    params = inspect.signature(cls).parameters.values()
    lines = out.splitlines()
    for p in params:
        if p.default is not inspect.Parameter.empty:
            assert any(line.split()[:3] == [p.name, "=", repr(p.default)] for line in lines), p.name
    assert f"nn.{entry.module}(" in out and f"F.{entry.functional}(" in out
    # the example is printed as a program and its output is lossgrad's, computed here too
    assert entry.program().strip().splitlines()[-1] in out
    assert f"  # {_catalog.run_example(entry).output!r}" in out


def test_explain_a_loss_that_torch_has_only_as_a_module():
    """AdaptiveLogSoftmaxWithLoss has no functional: explain shows the module, its constructor's
    signature and defaults (torch's), the constructor's scalar options for --set, and no F."""
    entry = _catalog.find("AdaptiveLogSoftmaxWithLoss")
    proc = run("explain", "AdaptiveLogSoftmaxWithLoss")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:4] == [
        f"AdaptiveLogSoftmaxWithLoss: {entry.summary}",
        "torch equivalent: torch.nn.AdaptiveLogSoftmaxWithLoss",
        "lossgrad: lossgrad.nn.AdaptiveLogSoftmaxWithLoss",
        f"          (defined in {lossgrad.nn.AdaptiveLogSoftmaxWithLoss.__module__})",
    ]
    at = lines.index("signatures")
    assert lines[at + 1 : at + 3] == [
        "  nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, div_value=4.0, "
        "head_bias=False, device=None, dtype=None)",
        "",
    ]
    assert not [line for line in lines if "F." in line or "nn.functional" in line]
    for p in inspect.signature(torch.nn.AdaptiveLogSoftmaxWithLoss).parameters.values():
        if p.default is not inspect.Parameter.empty:
            assert any(line.split()[:3] == [p.name, "=", repr(p.default)] for line in lines), p.name
    assert "         options for --set: div_value=4.0, head_bias=False" in lines
    assert f"         drawn at div_value=1.0: {entry.curve.note}" in lines
    torch_output = _catalog.run_example(entry, "torch").output
    assert f"  # {torch_output!r}" in lines


def test_plot_a_loss_that_torch_has_only_as_a_module(tmp_path):
    proc = run("plot", "adaptive_softmax", "--grad", "--set", "div_value=0.5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "wrote adaptive_log_softmax.png (1280x400 px): AdaptiveLogSoftmaxWithLoss" in proc.stdout
    assert "drawn at" not in proc.stdout  # the user chose div_value
    assert (tmp_path / "adaptive_log_softmax.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proc = run("plot", "adaptive_softmax", "--set", "device=cpu", cwd=tmp_path)
    assert proc.returncode == 2 and "options: adaptive_log_softmax: div_value, head_bias" in (
        proc.stderr
    )


def test_python_m_and_console_script_agree():
    exe = shutil.which("lossgrad")
    assert exe is not None
    script = subprocess.run(
        [exe, "list"], capture_output=True, text=True, encoding="utf-8", timeout=60
    )
    assert script.returncode == 0 and script.stdout == run("list").stdout


BAD = [
    ([], "choose a command"),
    (["explain", "smoth_l1"], "unknown loss 'smoth_l1'; did you mean smooth_l1?"),
    (["plot", "nosuchloss"], "unknown loss 'nosuchloss'"),
    (["plot"], "the following arguments are required: LOSS"),
    (["tour", "--bogus"], "unrecognized arguments: --bogus"),
    (["tour", "--figure", "tour.jpg"], "--figure tour.jpg: the file must end in .png or .svg"),
    (["plot", "smooth_l1", "--set", "beta"], "--set expects NAME=VALUE, got 'beta'"),
    (["plot", "smooth_l1", "--set", "beta=abc"], "--set beta: expected a number, got 'abc'"),
    (["plot", "smooth_l1", "--set", "gamma=2"], "--set gamma: no such option"),
    (
        ["plot", "bce_with_logits", "--set", "target=yes"],
        "--set target: expected a number, got 'yes'",
    ),
    (["plot", "smooth_l1", "-o", "curve.jpg"], "the file must end in .png or .svg"),
    (["plot", "smooth_l1", "--size", "12"], "--size expects WIDTHxHEIGHT"),
    (["plot", "smooth_l1", "--xlim", "2", "1"], "--xlim expects two finite numbers LO < HI"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) or "none" for a, _ in BAD])
def test_bad_arguments_exit_2_with_one_line(args, message, tmp_path):
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("lossgrad: error: ") and message in proc.stderr
    assert not list(tmp_path.iterdir())


def test_a_value_the_loss_rejects_reports_the_loss_error(tmp_path):
    """beta < 0: the message is the one the library's smooth_l1_loss raises, on one line."""
    with pytest.raises(RuntimeError) as expected:
        lossgrad.nn.functional.smooth_l1_loss(lossgrad.zeros(2), lossgrad.zeros(2), beta=-1.0)
    proc = run("plot", "smooth_l1", "--set", "beta=-1", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert str(expected.value).splitlines()[0] in proc.stderr
    assert not list(tmp_path.iterdir())


def test_every_tour_example_also_runs_under_torch():
    """The examples are torch programs: torch runs each one unchanged (its own value is finite)."""
    for entry in _catalog.tour_losses():
        theirs = _catalog.run_example(entry, "torch")
        assert np.isfinite(theirs.output.item()), entry.key
        assert theirs.grads, f"{entry.key}: the example should call backward()"


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


def test_version_is_the_packages():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == f"lossgrad {_pyproject()['project']['version']}\n"


def _without(module: str, tmp_path: Path) -> dict[str, str]:
    """An environment where ``import MODULE`` fails, as on an install without it."""
    fake = tmp_path / "fake" / module
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(f"raise ImportError('{module} is hidden for this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(fake.parent), env.get("PYTHONPATH", "")])
    return env


def test_bench_without_torch_says_how_to_install_it(tmp_path):
    proc = run("bench", "--quick", cwd=tmp_path, env=_without("torch", tmp_path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "pip install 'lossgrad[bench]'" in proc.stderr and "Traceback" not in proc.stderr
    bench = _pyproject()["project"]["optional-dependencies"]["bench"]
    assert any(requirement.startswith("torch") for requirement in bench)


def test_tour_names_the_tutorial_and_says_where_the_figure_goes(tour):
    proc, cwd = tour
    from lossgrad.cli import TUTORIAL

    out = proc.stdout
    assert TUTORIAL in out and "损失函数" in TUTORIAL
    for entry in _catalog.tour_losses():  # what it covers, as the tutorial names it
        assert entry.title in TUTORIAL, entry.title
    figure = f"Figure: {(cwd / 'smooth_l1_vs_l1.png').resolve()}"
    assert figure in out and out.index(figure) < out.index("1. Loss, cost and objective")


def test_tour_writes_the_figure_where_o_says(tmp_path):
    proc = run("tour", "--no-torch", "-o", "curves.svg", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Figure: {(tmp_path / 'curves.svg').resolve()}" in proc.stdout
    assert (tmp_path / "curves.svg").read_text().lstrip().startswith("<?xml")
    assert [p.name for p in tmp_path.iterdir()] == ["curves.svg"]


@pytest.mark.parametrize("name", ["huber", "kl_div", "focal", "ctc"])
def test_explain_shows_the_module_path_shape_and_references(name):
    entry = _catalog.find(name)
    out = run("explain", name).stdout
    module = entry.function().__module__
    assert f"(defined in {module})" in out
    assert f"lossgrad.nn.functional.{entry.functional}" in out
    assert "src/" not in out and ".py" not in out
    flat = " ".join(out.split())
    assert f"shape {' '.join(entry.shape.split())}" in flat
    assert entry.references and all(" ".join(r.split()) in flat for r in entry.references)


def test_plot_says_why_focal_is_drawn_at_gamma_2(tmp_path):
    proc = run("plot", "focal", "-o", "focal.svg", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    entry = _catalog.find("focal")
    assert f"FocalLoss drawn at gamma=2.0: {entry.curve.note}" in proc.stdout
    proc = run("plot", "focal", "--set", "gamma=0", "-o", "focal0.svg", cwd=tmp_path)
    assert "drawn at" not in proc.stdout  # the user chose gamma


def test_cli_docs_and_catalog_code_stays_simple():
    """Every function of the command line, the plots, the catalog and the docs hooks has a
    cyclomatic complexity of at most 20 (radon)."""
    from radon.complexity import cc_visit

    root = Path(__file__).resolve().parents[1]
    files = [
        root / "src" / "lossgrad" / name for name in ("cli.py", "plot.py", "_catalog.py", "_tex.py")
    ]
    files += sorted((root / "docs" / "_hooks").glob("*.py"))
    for path in files:
        for block in cc_visit(path.read_text(encoding="utf-8")):
            assert block.complexity <= 20, f"{path.name}: {block.name} ({block.complexity})"
