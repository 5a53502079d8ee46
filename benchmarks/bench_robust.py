"""Forward+backward time of the robust, quantile, margin and distribution losses, lossgrad vs
their reference implementations (float32).

Run: ``python benchmarks/bench_robust.py`` (``--only sinkhorn``, ``--sinkhorn-n 2048``,
``--no-sinkhorn``). Prints one row per case with the ratio lossgrad / reference (below 1.0:
lossgrad is faster). The references are the libraries the tests compare with, where they run on
torch (kornia, timm, POT's torch backend, geomloss); for the losses whose reference library is
not torch-based (Keras, optax, scikit-learn), the reference is the same formula written with
torch ops, named in the row.

The Sinkhorn rows (N = M = 4096 points in 3-D, geomloss's defaults ``blur=0.05, scaling=0.5``)
run one forward+backward per side, each in a fresh subprocess that also reports its peak
resident memory above the baseline after the inputs are built.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import lossgrad  # noqa: E402
from _harness import Row, compare  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _kornia(name: str) -> Callable[..., Any]:
    import kornia.losses

    fn = getattr(kornia.losses, name)
    return lambda a, b: fn(a, b, reduction="mean")


def _timm_asl() -> Any:
    import importlib
    import importlib.util
    import types

    if "timm.loss" not in sys.modules and "timm" not in sys.modules:
        stub = types.ModuleType("timm")
        stub.__path__ = list(importlib.util.find_spec("timm").submodule_search_locations)
        sys.modules["timm"] = stub
    return importlib.import_module("timm.loss.asymmetric_loss").AsymmetricLossMultiLabel()


def _torch_log_cosh(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = a - b  # Keras's formula
    return (d + torch.nn.functional.softplus(-2.0 * d) - math.log(2.0)).mean()


def _torch_barron(a: torch.Tensor, b: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    beta = abs(alpha - 2.0)  # the paper's equation 1, scale 1
    return (beta / alpha * (((a - b) ** 2 / beta + 1) ** (alpha / 2) - 1)).mean()


def _torch_pinball(a: torch.Tensor, b: torch.Tensor, q: float = 0.9) -> torch.Tensor:
    under = b - a  # scikit-learn's mean_pinball_loss
    return torch.where(under >= 0, q * under, (q - 1) * under).mean()


def _torch_tweedie(mu: torch.Tensor, y: torch.Tensor, p: float = 1.5) -> torch.Tensor:
    return (2 * (y ** (2 - p) / ((1 - p) * (2 - p)) - y * mu ** (1 - p) / (1 - p)  # sklearn's
                 + mu ** (2 - p) / (2 - p))).mean()


def _pot_wasserstein(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    import warnings

    import ot

    with warnings.catch_warnings():  # POT's own use of the deprecated 1-D .T
        warnings.simplefilter("ignore", UserWarning)
        return ot.wasserstein_1d(a, b, p=2)


def _geomloss(name: str, **options: Any) -> Callable[..., Any]:
    from geomloss import SamplesLoss

    loss = SamplesLoss(name, backend="tensorized", **options)
    return lambda a, b: loss(a, b)


def _cases(n: int) -> dict[str, tuple[str, Callable[..., Any], Callable[..., Any]]]:
    """name -> (input kind, lossgrad call on (F, a, b), reference call on (a, b))."""
    return {
        f"charbonnier_loss n={n:.0e} (kornia)": (
            "pair", lambda F, a, b: F.charbonnier_loss(a, b), _kornia("charbonnier_loss")),
        f"welsch_loss n={n:.0e} (kornia)": (
            "pair", lambda F, a, b: F.welsch_loss(a, b), _kornia("welsch_loss")),
        f"cauchy_loss n={n:.0e} (kornia)": (
            "pair", lambda F, a, b: F.cauchy_loss(a, b), _kornia("cauchy_loss")),
        f"geman_mcclure_loss n={n:.0e} (kornia)": (
            "pair", lambda F, a, b: F.geman_mcclure_loss(a, b), _kornia("geman_mcclure_loss")),
        f"log_cosh_loss n={n:.0e} (Keras formula in torch)": (
            "pair", lambda F, a, b: F.log_cosh_loss(a, b), _torch_log_cosh),
        f"barron_loss a=0.5 n={n:.0e} (paper's formula in torch)": (
            "pair", lambda F, a, b: F.barron_loss(a, b, alpha=0.5), _torch_barron),
        f"pinball_loss q=0.9 n={n:.0e} (sklearn formula in torch)": (
            "pair", lambda F, a, b: F.pinball_loss(a, b, 0.9), _torch_pinball),
        f"tweedie_loss p=1.5 n={n:.0e} (sklearn formula in torch)": (
            "positive", lambda F, a, b: F.tweedie_loss(a, b, power=1.5), _torch_tweedie),
        "asymmetric_loss 1024x80 (timm)": (
            "multilabel", lambda F, a, b: F.asymmetric_loss(a, b, reduction="mean"),
            lambda a, b: _timm_asl()(a, b)),
        "wasserstein_1d p=2 n=1e+05 (POT)": (
            "line", lambda F, a, b: F.wasserstein_1d(a, b, p=2), _pot_wasserstein),
        "mmd_loss gaussian 1024x1024x3 (geomloss)": (
            "cloud", lambda F, a, b: F.mmd_loss(a, b, blur=0.5), _geomloss("gaussian", blur=0.5)),
    }


def _inputs(kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    if kind == "pair":
        return (rng.standard_normal(n) * 3).astype(np.float32), rng.standard_normal(n).astype(
            np.float32)
    if kind == "positive":
        return rng.uniform(0.1, 3, n).astype(np.float32), rng.poisson(1.5, n).astype(np.float32)
    if kind == "multilabel":
        return (rng.standard_normal((1024, 80)) * 2).astype(np.float32), rng.integers(
            0, 2, (1024, 80)).astype(np.float32)
    if kind == "line":
        return rng.standard_normal(100_000).astype(np.float32), rng.standard_normal(
            100_000).astype(np.float32)
    return rng.uniform(0, 1, (1024, 3)).astype(np.float32), rng.uniform(0, 1, (1024, 3)).astype(
        np.float32)


def rows(n: int, only: str | None = None) -> list[Row]:
    out: list[Row] = []
    for name, (kind, ours, theirs) in _cases(n).items():
        if only and only not in name:
            continue
        first, second = _inputs(kind, n)
        x_lg, y_lg = lossgrad.tensor(first, requires_grad=True), lossgrad.tensor(second)
        x_th, y_th = torch.tensor(first, requires_grad=True), torch.tensor(second)

        def run_ours(x=x_lg, y=y_lg, call=ours) -> None:
            x.grad = None
            call(lossgrad.nn.functional, x, y).backward()

        def run_theirs(x=x_th, y=y_th, call=theirs) -> None:
            x.grad = None
            call(x, y).backward()

        out.append((name, run_ours, run_theirs))
    return out


# -- Sinkhorn: one call per side, each in a fresh process ----------------------------------------


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _sinkhorn_child(side: str, n: int) -> None:
    """Child process: one forward+backward; prints seconds and peak MiB above the baseline."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    y = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    if side == "geomloss":
        from geomloss import SamplesLoss

        loss = SamplesLoss("sinkhorn", blur=0.05, scaling=0.5, backend="tensorized")
        a, b = torch.tensor(x, requires_grad=True), torch.tensor(y)
        small = (torch.tensor(x[:8], requires_grad=True), torch.tensor(y[:8]))
        loss(*small).backward()  # load the code paths before the baseline

        def run() -> None:
            loss(a, b).backward()
    else:
        F = lossgrad.nn.functional
        a, b = lossgrad.tensor(x, requires_grad=True), lossgrad.tensor(y)
        small = (lossgrad.tensor(x[:8], requires_grad=True), lossgrad.tensor(y[:8]))
        F.sinkhorn_loss(*small, gradient=side).backward()

        def run() -> None:
            F.sinkhorn_loss(a, b, gradient=side).backward()

    base = _peak_kib()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mib": (_peak_kib() - base) / 1024}))


def sinkhorn_rows(n: int) -> None:
    results = {}
    for side in ("geomloss", "envelope", "exact"):
        proc = subprocess.run(
            [sys.executable, __file__, "--sinkhorn-child", side, "--sinkhorn-n", str(n)],
            capture_output=True, text=True, cwd=ROOT, check=True,
        )
        results[side] = json.loads(proc.stdout.strip().splitlines()[-1])
    ref = results["geomloss"]
    print(f"\nsinkhorn_loss N=M={n}, D=3, blur=0.05, scaling=0.5 (one forward+backward, fresh "
          "process each)")
    print(f"{'side':<34} {'time':>9} {'ratio':>7} {'peak MiB':>9} {'ratio':>7}")
    for side, label in (("geomloss", "geomloss (tensorized)"),
                        ("envelope", "lossgrad gradient='envelope'"),
                        ("exact", "lossgrad gradient='exact'")):
        r = results[side]
        print(f"{label:<34} {r['seconds']:>8.2f}s {r['seconds'] / ref['seconds']:>7.2f} "
              f"{r['peak_mib']:>9.0f} {r['peak_mib'] / ref['peak_mib']:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000, help="elementwise cases' size")
    parser.add_argument("--only", default=None, help="run the cases whose name contains this")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sinkhorn-n", type=int, default=4096)
    parser.add_argument("--no-sinkhorn", action="store_true")
    parser.add_argument("--sinkhorn-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch's intra-op threads (lossgrad uses one)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.sinkhorn_child:
        _sinkhorn_child(args.sinkhorn_child, args.sinkhorn_n)
        return
    if args.only != "sinkhorn":
        compare(rows(args.size, args.only), repeats=args.repeats)
    if not args.no_sinkhorn and (args.only is None or args.only in "sinkhorn_loss"):
        sinkhorn_rows(args.sinkhorn_n)


if __name__ == "__main__":
    main()
