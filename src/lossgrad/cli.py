"""The ``lossgrad`` command: ``tour``, ``plot``, ``list``, ``explain`` and ``bench``.

    lossgrad tour                      the loss-functions tutorial, run on lossgrad (and torch)
    lossgrad plot smooth_l1 l1 --grad  loss and gradient curves, written to a PNG or SVG file
    lossgrad list                      every loss, its summary and its torch equivalent
    lossgrad explain cross_entropy     formula, gradient, Shape, defaults, edge cases, references
    lossgrad bench --quick             every loss timed against torch (from a source checkout)
    lossgrad --version
    lossgrad run -n 4 train.py         four ranks of a script, through mpiexec (MPI)

The tour follows a Chinese-language PyTorch tutorial on loss functions, "损失函数" ("Loss
functions"): see ``TUTORIAL``. Bad arguments, and ``bench`` without torch, print one line on
stderr and exit with status 2; a plot without matplotlib (an optional dependency) prints one line
and exits with status 1. Everything shown is computed by the library at run time.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import numpy as np

from lossgrad import _catalog

_PLOT_FORMATS = (".png", ".svg")
_TOUR_FIGURE = "smooth_l1_vs_l1.png"

#: The tutorial that ``lossgrad tour`` follows, and what it covers.
TUTORIAL = (
    'The tour follows "损失函数" ("Loss functions"), a Chinese-language PyTorch tutorial: loss,\n'
    "cost and objective; loss.backward() on a linear model; gradient accumulation; no_grad and\n"
    "zero_grad; then sixteen torch.nn losses (BCELoss, CrossEntropyLoss, L1Loss, MSELoss,\n"
    "SmoothL1Loss, PoissonNLLLoss, KLDivLoss, MarginRankingLoss, MultiLabelMarginLoss,\n"
    "SoftMarginLoss, MultiMarginLoss, TripletMarginLoss, HingeEmbeddingLoss,\n"
    "CosineEmbeddingLoss, CTCLoss and its own FocalLoss), each with its formula and an example,\n"
    "and a figure of smooth L1 against L1."
)


class _UsageError(Exception):
    """A bad argument: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _build_parser() -> _Parser:
    parser = _Parser(
        prog="lossgrad",
        description="PyTorch's loss functions on NumPy: a guided tour, curves and explanations.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="{tour,plot,list,explain,bench}")
    tour = sub.add_parser(
        "tour", help="walk the loss-functions tutorial on built-in data", description=TUTORIAL
    )
    tour.add_argument(
        "-o",
        "--output",
        "--figure",
        dest="figure",
        default=_TOUR_FIGURE,
        metavar="FILE",
        help=f"where to write the smooth L1 vs L1 figure, .png or .svg (default {_TOUR_FIGURE})",
    )
    tour.add_argument("--no-figure", action="store_true", help="do not write the figure")
    tour.add_argument("--no-torch", action="store_true", help="skip the comparison with torch")

    plot = sub.add_parser("plot", help="draw loss (and gradient) curves to a PNG or SVG file")
    plot.add_argument("losses", nargs="+", metavar="LOSS", help="loss names (see 'lossgrad list')")
    plot.add_argument("--grad", action="store_true", help="add the gradient dℓ/dx beside the loss")
    plot.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a loss option or plot setting, e.g. --set beta=0.5 (repeatable)",
    )
    plot.add_argument(
        "-o", "--output", metavar="FILE", help="output .png or .svg (default: LOSS_....png here)"
    )
    plot.add_argument(
        "--size", default=None, metavar="WxH", help="image size in pixels, e.g. 800x500"
    )
    plot.add_argument("--xlim", nargs=2, type=float, metavar=("LO", "HI"), help="the x range")

    sub.add_parser("list", help="list every loss with its torch equivalent")
    explain = sub.add_parser(
        "explain", help="formula, gradient, defaults, edge cases and an example"
    )
    explain.add_argument("name", metavar="NAME", help="a loss name, e.g. smooth_l1 or SmoothL1Loss")
    bench = sub.add_parser(
        "bench", help="time every loss against torch (benchmarks/suite.py of a source checkout)"
    )
    bench.add_argument("options", nargs="*", help="passed on to the suite, e.g. --quick")
    sub.add_parser("run", help="N ranks of a script through mpiexec: run -n N script.py [args]")
    return parser


def _bench(options: list[str]) -> int:
    """Run ``benchmarks/suite.py`` (found beside ``src/`` or in the current directory) with
    ``options`` (its own, e.g. ``--quick``: see ``lossgrad bench --help``)."""
    import runpy

    try:
        import torch  # noqa: F401 - the suite compares with it
    except ImportError:
        raise _UsageError(
            "lossgrad bench times lossgrad against torch, which is not installed: "
            "pip install 'lossgrad[bench]'"
        ) from None
    here = Path(__file__).resolve().parents[2] / "benchmarks" / "suite.py"
    suite = next((p for p in (here, Path.cwd() / "benchmarks" / "suite.py") if p.is_file()), None)
    if suite is None:
        raise _UsageError("the benchmark suite ships with the source tree: run it from a checkout")
    argv = sys.argv
    sys.argv = [str(suite), *options]
    try:
        runpy.run_path(str(suite), run_name="__main__")
    finally:
        sys.argv = argv
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    _make_stdout_safe()
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        if argv[:1] == ["bench"]:  # every later option belongs to the suite
            return _bench(argv[1:])
        if argv[:1] == ["run"]:  # the script's options follow it
            return _run(argv[1:])
        args = _build_parser().parse_args(argv)
        if args.version:
            return _version()
        if args.command is None:
            raise _UsageError("choose a command: tour, plot, list or explain (see lossgrad --help)")
        return {"tour": _tour, "plot": _plot, "list": _list, "explain": _explain}[args.command](
            args
        )
    except _UsageError as e:
        print(f"lossgrad: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        if e.name != "matplotlib":
            raise
        print(f"lossgrad: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into a reader that closed early (``| head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _version() -> int:
    import lossgrad

    print(f"lossgrad {lossgrad.__version__}")
    return 0


def _make_stdout_safe() -> None:
    """Formulas use Unicode; on a terminal that cannot show it, print replacements, never fail."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")


def _find(name: str) -> _catalog.Loss:
    try:
        return _catalog.find(name)
    except KeyError as e:
        raise _UsageError(e.args[0]) from None


# -- list ------------------------------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    key_w = max(len(e.key) for e in _catalog.CATALOG)
    torch_w = max(len(e.torch_name) for e in _catalog.CATALOG)
    for family, title in _catalog.FAMILIES.items():
        print(title)
        for e in _catalog.by_family(family):
            missing = "" if e.available() else "  [not in this build]"
            print(f"  {e.key:<{key_w}}  {e.torch_name:<{torch_w}}  {e.summary}{missing}")
        print()
    print("lossgrad explain NAME  for the formula, gradient, defaults and an example;")
    print("lossgrad plot NAME...  for the curves.")
    return 0


# -- explain ---------------------------------------------------------------------------------------


def _explain(args: argparse.Namespace) -> int:
    e = _find(args.name)
    print(f"{e.title}: {e.summary}")
    relative = f" (reference: {e.torch_note}, written with torch)" if e.torch_note else ""
    print(f"torch equivalent: {e.torch_name}{relative}")
    missing = e.missing()
    if missing:
        print(f"not in this build of lossgrad: {_missing_text(missing)}")
    else:
        print(f"lossgrad: {', '.join(e.lossgrad_names())}")
        print(f"          (defined in {e.defining_module()})")
    print()
    _field("formula", e.formula)
    _field("gradient", e.gradient)
    if e.shape:
        _field("shape", textwrap.fill(e.shape, 86, subsequent_indent=" " * 10))
    if not missing:
        _explain_signatures(e)
    print()
    print("edge cases" + (" (torch's policies, which lossgrad follows)" if e.in_torch else ""))
    _bullets(e.notes)
    if e.references:
        print()
        print("references")
        _bullets(e.references)
    print()
    _explain_plot(e)
    return _explain_example(e)


def _missing_text(missing: Sequence[str]) -> str:
    """``lossgrad.nn.functional.x is missing``, or ``... and ... are missing``."""
    return " and ".join(missing) + (" is missing" if len(missing) == 1 else " are missing")


def _bullets(lines: Sequence[str]) -> None:
    for line in lines:
        print(textwrap.fill(line, 96, initial_indent="  - ", subsequent_indent="    "))


def _explain_signatures(e: _catalog.Loss) -> None:
    print()
    print("signatures")
    for line in e.signatures():
        print(f"  {line}")
    params = e.parameters()
    if params:
        print()
        print("parameters (defaults of this build)")
        width = max(map(len, params))
        for name, default in params.items():
            legacy = "   deprecated: use reduction" if name in ("size_average", "reduce") else ""
            print(f"  {name:<{width}} = {default!r}{legacy}")


def _explain_plot(e: _catalog.Loss) -> None:
    settings = ", ".join(f"{k}={v!r}" for k, v in e.tunable().items()) or "none"
    print(f"plot     axis: {e.curve.xlabel.format(**e.curve.settings)}")
    if e.curve.params:
        drawn = ", ".join(f"{k}={v!r}" for k, v in e.curve.params.items())
        print(f"         drawn at {drawn}" + (f": {e.curve.note}" if e.curve.note else ""))
    print(f"         options for --set: {settings}")
    print(f"         lossgrad plot {e.key} --grad")
    print()


def _explain_example(e: _catalog.Loss) -> int:
    print("example")
    program = e.program() + "print(output)\n"
    print(textwrap.indent(program, "  "), end="")
    if e.available():
        try:
            result = _catalog.run_example(e)
        except Exception as exc:  # noqa: BLE001 - a failing example is reported, not hidden
            print(f"  # raises {type(exc).__name__}: {exc}")
            return 1
        print(textwrap.indent(repr(result.output), "  # "))
    return 0


def _field(name: str, text: str) -> None:
    print(f"{name:<9} {text}")


# -- plot ------------------------------------------------------------------------------------------


def _parse_value(raw: str) -> Any:
    words = {"true": True, "false": False, "none": None}
    if raw.lower() in words:
        return words[raw.lower()]
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def _check_type(name: str, value: Any, default: Any) -> None:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _UsageError(f"--set {name}: expected true or false, got {value!r}")
    elif isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _UsageError(f"--set {name}: expected a number, got {value!r}")


def _parse_sets(items: Sequence[str], entries: Sequence[_catalog.Loss]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise _UsageError(f"--set expects NAME=VALUE, got {item!r}")
        owners = [e for e in entries if name in e.tunable()]
        if not owners:
            options = "; ".join(f"{e.key}: {', '.join(e.tunable()) or 'none'}" for e in entries)
            raise _UsageError(f"--set {name}: no such option (options: {options})")
        value = _parse_value(raw.strip())
        for e in owners:
            _check_type(name, value, e.tunable()[name])
        params[name] = value
    return params


def _parse_size(size: str | None) -> tuple[int, int] | None:
    if size is None:
        return None
    w, sep, h = size.lower().partition("x")
    try:
        width, height = int(w), int(h)
    except ValueError:
        width = height = 0
    if not sep or width < 16 or height < 16 or width > 10000 or height > 10000:
        raise _UsageError(f"--size expects WIDTHxHEIGHT in pixels (16 to 10000), got {size!r}")
    return width, height


def _plot(args: argparse.Namespace) -> int:
    entries = [_find(name) for name in args.losses]
    for e in entries:
        if not e.available():
            raise _UsageError(
                f"{e.key} is not in this build of lossgrad ({_missing_text(e.missing())})"
            )
    params = _parse_sets(args.set, entries)
    size = _parse_size(args.size)
    output = _plot_output(args.output, entries)
    lim = _parse_xlim(args.xlim)
    print(f"figure: {output.resolve()}" + ("" if args.output else "  (-o FILE to choose)"))
    fig = _draw(entries, args.grad, params, lim)
    for e in entries:
        if e.curve.note and not set(e.curve.params) & set(params):
            drawn = ", ".join(f"{k}={v!r}" for k, v in e.curve.params.items())
            print(f"{e.title}" + (f" drawn at {drawn}" if drawn else "") + f": {e.curve.note}")
    return _save_figure(fig, output, size, entries)


def _plot_output(name: str | None, entries: Sequence[_catalog.Loss]) -> Path:
    output = Path(name or "_".join(dict.fromkeys(e.key for e in entries)) + ".png")
    if output.suffix.lower() not in _PLOT_FORMATS:
        raise _UsageError(f"-o {output}: the file must end in .png or .svg")
    return output


def _parse_xlim(xlim: Sequence[float] | None) -> tuple[float, float] | None:
    if xlim is None:
        return None
    if not (np.isfinite(xlim).all() and xlim[0] < xlim[1]):
        raise _UsageError(f"--xlim expects two finite numbers LO < HI, got {xlim[0]} {xlim[1]}")
    return float(xlim[0]), float(xlim[1])


def _draw(
    entries: Sequence[_catalog.Loss],
    grad: bool,
    params: dict[str, Any],
    lim: tuple[float, float] | None,
) -> Any:
    """The figure, with a loss's own error for a value it rejects reported as a usage error."""
    from lossgrad.plot import plot_losses

    try:
        return plot_losses([e.key for e in entries], grad=grad, params=params, lim=lim)
    except (ValueError, RuntimeError, TypeError, IndexError) as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        raise _UsageError(
            f"{', '.join(e.key for e in entries)} with {shown or 'defaults'}: {exc}"
        ) from None


def _save_figure(
    fig: Any, output: Path, size: tuple[int, int] | None, entries: Sequence[_catalog.Loss]
) -> int:
    dpi = 100
    if size is not None:
        fig.set_size_inches(size[0] / dpi, size[1] / dpi)
    try:
        fig.savefig(output, dpi=dpi)
    except OSError as exc:
        raise _UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    w, h = (round(v * dpi) for v in fig.get_size_inches())
    print(f"wrote {output} ({w}x{h} px): {', '.join(e.title for e in entries)}")
    return 0


# -- tour ------------------------------------------------------------------------------------------


def _tour(args: argparse.Namespace) -> int:
    import lossgrad

    if not args.no_figure and Path(args.figure).suffix.lower() not in _PLOT_FORMATS:
        raise _UsageError(f"-o/--figure {args.figure}: the file must end in .png or .svg")

    torch = None if args.no_torch else _import_torch()
    versions = f"lossgrad {lossgrad.__version__}" + (
        f", torch {torch.__version__} alongside" if torch else ""
    )
    print(f"The loss-functions tutorial, run on {versions}")
    print()
    print(TUTORIAL)
    print()
    if args.no_figure:
        print("Figure: none (--no-figure).")
    else:
        print(f"Figure: {Path(args.figure).resolve()}  (-o FILE to choose, --no-figure to skip)")
    print()
    _tour_concepts(lossgrad)
    _tour_backward(lossgrad, torch)
    ok = _tour_losses(torch)
    _tour_figure(args)
    return 0 if ok else 1


def _import_torch() -> ModuleType | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _section(title: str) -> None:
    print(title)
    print("─" * len(title))


def _show(label: str, value: Any, width: int = 14) -> None:
    """``label  value``, with a multi-line value indented under its first line."""
    lines = str(value).splitlines() or [""]
    print(f"  {label:<{width}}{lines[0]}")
    for line in lines[1:]:
        print(" " * (width + 2) + line)


def _tour_concepts(lg: ModuleType) -> None:
    nn = lg.nn
    _section("1. Loss, cost and objective")
    _show("loss", "ℓ(ŷ, y): the error of one sample             reduction='none'")
    _show("cost", "(1/N)·Σᵢ ℓ(ŷᵢ, yᵢ): the mean over the samples  reduction='mean' (default)")
    _show("objective", "the cost plus a regularisation term, e.g. weight decay")
    print("  on four samples:")
    y_hat = lg.tensor([2.5, 0.0, 2.0, 8.0])
    y = lg.tensor([3.0, -0.5, 2.0, 7.0])
    per_sample = nn.MSELoss(reduction="none")(y_hat, y)
    _show("ŷ", y_hat)
    _show("y", y)
    _show("losses", f"nn.MSELoss(reduction='none')(ŷ, y) = {per_sample}")
    _show(
        "mean",
        f"nn.MSELoss()(ŷ, y) = {nn.MSELoss()(y_hat, y)!r} = losses.mean() = {per_sample.mean()!r}",
    )
    _show(
        "a module", f"isinstance(nn.MSELoss(), nn.Module) = {isinstance(nn.MSELoss(), nn.Module)}"
    )
    print()


def _linear_setup(lg: ModuleType) -> tuple[Any, Any, Any, Any]:
    lg.manual_seed(0)
    model = lg.nn.Linear(10, 1)
    return model, lg.nn.MSELoss(), lg.randn(16, 10), lg.randn(16, 1)


def _tour_backward(lg: ModuleType, torch: ModuleType | None) -> None:
    model, criterion, inputs, targets = _linear_setup(lg)
    _section("2. loss.backward() on a linear model")
    print("  model = nn.Linear(10, 1); criterion = nn.MSELoss()")
    print("  inputs, targets = torch.randn(16, 10), torch.randn(16, 1)   (lossgrad.manual_seed(0))")
    loss = criterion(model(inputs), targets)
    model.zero_grad()
    loss.backward()
    _show("loss", loss)
    print(
        "  loss.backward() walks the graph back from the loss and fills .grad on every parameter:"
    )
    for name, param in model.named_parameters():
        _show(f"{name}.grad", param.grad)
    if torch is not None:
        t_model = torch.nn.Linear(10, 1)
        with torch.no_grad():
            for p_t, p in zip(t_model.parameters(), model.parameters(), strict=True):
                p_t.copy_(torch.from_numpy(p.detach().numpy()))
        t_loss = torch.nn.MSELoss()(
            t_model(torch.from_numpy(inputs.numpy())), torch.from_numpy(targets.numpy())
        )
        t_loss.backward()
        diff = max(
            float(np.abs(p.grad.numpy() - p_t.grad.numpy()).max())
            for p, p_t in zip(model.parameters(), t_model.parameters(), strict=True)
        )
        same = np.isclose(loss.item(), t_loss.item(), rtol=1e-5) and diff < 1e-5
        verdict = "✓" if same else "✗ differs"
        _show(
            "torch", f"{t_loss!r} on the same weights and data\nmax |Δ grad| = {diff:.1e} {verdict}"
        )
    print()

    _section("3. Gradient accumulation")
    full = {name: p.grad.numpy().copy() for name, p in model.named_parameters()}
    model.zero_grad()
    for half in (slice(0, 8), slice(8, 16)):
        (criterion(model(inputs[half]), targets[half]) / 2).backward()
    print("  model.zero_grad(), then backward() on each half of the batch (each loss / 2),")
    print("  without zero_grad() in between: backward() adds into .grad.")
    acc = max(
        float(np.abs(p.grad.numpy() - full[name]).max()) for name, p in model.named_parameters()
    )
    _show(
        "accumulated", f"max |accumulated − full batch| = {acc:.1e} " + ("✓" if acc < 1e-6 else "✗")
    )
    optimizer = lg.optim.SGD(model.parameters(), lr=0.1)
    optimizer.step()
    with lg.no_grad():
        after = criterion(model(inputs), targets)
    _show("optimizer", f"optim.SGD(lr=0.1).step(): loss {loss.item():.4f} → {after.item():.4f}")
    print()

    _section("4. No gradient: torch.no_grad() and zero_grad()")
    with lg.no_grad():
        outputs = model(inputs)
    print("  with torch.no_grad(): outputs = model(inputs)     (evaluation, data generation)")
    _show(
        "outputs",
        f"requires_grad = {outputs.requires_grad}, grad_fn = {outputs.grad_fn}: nothing recorded",
    )
    model.zero_grad()
    _show("zero_grad()", f"before each new iteration: weight.grad = {model.weight.grad}")
    print()


def _tour_losses(torch: ModuleType | None) -> bool:
    entries = _catalog.tour_losses()
    _section(f"5. The {len(entries)} losses of the tutorial")
    print("  Each runs its 'lossgrad explain NAME' example: the value as torch prints it, then")
    print("  torch's own on the same inputs (✓ when the value, every gradient and grad_fn agree).")
    print()
    rows = [_run_tour_row(e, torch) for e in entries]
    name_w = max(len(e.title) for e in entries) + 2
    value_w = max(len(value) for value, _, _ in rows)
    torch_head = f"torch {torch.__version__}" if torch else "torch (not installed)"
    print(f"  {'#':>2}  {'loss':<{name_w}}{'lossgrad':<{value_w}}  {torch_head}")
    for i, (e, (value, versus, _)) in enumerate(zip(entries, rows, strict=True), 1):
        print(f"  {i:>2}  {e.title:<{name_w}}{value:<{value_w}}  {versus}")
        print(f"      {'':<{name_w}}{e.formula}")
    good = sum(ok for _, _, ok in rows)
    print()
    if torch is None:
        print(f"  {good} of {len(rows)} losses computed; pip install torch==2.13.0 to compare.")
    else:
        print(f"  {good} of {len(rows)} losses match torch {torch.__version__}.")
    print()
    return good == len(rows)


def _run_tour_row(entry: _catalog.Loss, torch: ModuleType | None) -> tuple[str, str, bool]:
    """(lossgrad's printed value, the torch column, ok) for one loss."""
    if not entry.available():
        return f"not in this build ({_missing_text(entry.missing())})", "", False
    try:
        mine = _catalog.run_example(entry)
    except Exception as exc:  # noqa: BLE001 - the tour reports a broken loss and goes on
        return f"error: {type(exc).__name__}: {exc}".splitlines()[0][:70], "", False
    value = repr(mine.output)
    if torch is None:
        return value, "—", True
    theirs = _catalog.run_example(entry, "torch")
    problems = _compare(entry, mine, theirs)
    shown = f"{theirs.output.item():.4f}"
    if entry.torch_example:
        shown += f" ({entry.torch_note})"
    return (
        value,
        ("✓ " + shown) if not problems else f"✗ {shown}, {' and '.join(problems)} differ",
        not problems,
    )


def _compare(
    entry: _catalog.Loss, mine: _catalog.ExampleRun, theirs: _catalog.ExampleRun
) -> list[str]:
    problems = []
    if not np.allclose(
        mine.output.detach().numpy(), theirs.output.detach().numpy(), rtol=1e-5, atol=1e-6
    ):
        problems.append("value")
    if set(mine.grads) != set(theirs.grads) or not all(
        np.allclose(mine.grads[k], theirs.grads[k], rtol=1e-5, atol=1e-6) for k in mine.grads
    ):
        problems.append("gradient")
    if entry.in_torch and mine.grad_fn != theirs.grad_fn:
        problems.append(f"grad_fn (torch: {theirs.grad_fn})")
    return problems


def _tour_figure(args: argparse.Namespace) -> None:
    _section("6. Smooth L1 against L1")
    if args.no_figure:
        print("  skipped (--no-figure); lossgrad plot smooth_l1 l1 --grad draws it.")
        return
    try:
        from lossgrad.plot import plot_losses

        fig = plot_losses(["smooth_l1", "l1"], grad=True, lim=(-10.0, 10.0), points=5000)
    except ModuleNotFoundError as e:
        if e.name != "matplotlib":
            raise
        print("  matplotlib is not installed: pip install 'lossgrad[plot]' to get the figure")
        print("  (smooth L1 rounds the kink of L1 at 0: its gradient goes from −1 to 1 linearly).")
        return
    try:
        fig.savefig(args.figure, dpi=100)
    except OSError as e:
        print(f"  could not write {args.figure}: {e.strerror or e}")
        return
    print(f"  wrote {args.figure}: smooth L1 is quadratic near 0, where L1 has a kink;")
    print("  its gradient goes from −1 to 1 linearly instead of jumping.")


def _run(options: list[str]) -> int:
    """``lossgrad run -n N script.py [args]``: N ranks of the script, started by ``mpiexec``."""
    from lossgrad.distributed import launch

    return launch.main(options)
