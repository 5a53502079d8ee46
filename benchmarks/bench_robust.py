"""Forward+backward time of the robust, quantile, margin and distribution losses, lossgrad vs
their reference implementations (float32).

Run: ``python benchmarks/bench_robust.py`` (``--only sinkhorn``, ``--size 1000``). Prints one
row per case with the ratio lossgrad / reference (below 1.0:
lossgrad is faster). The references are the libraries the tests compare with, where they run on
torch (kornia, timm, POT's torch backend, geomloss); for the losses whose reference library is
not torch-based (Keras, optax, scikit-learn), the reference is the same formula written with
torch ops, named in the row.

The Sinkhorn rows: N = M = 4096 points in 3-D, geomloss's defaults ``blur=0.05, scaling=0.5``,
tensorized backend, against lossgrad's exact and envelope gradients. ``rows()`` gives the cases
to ``benchmarks/suite.py``, which also measures their peak memory.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import lossgrad  # noqa: E402
from _harness import Make, compare, made  # noqa: E402

REFERENCE = (
    "kornia 0.9.0, timm 1.0.31, POT 0.9.7, geomloss 0.3.1; Keras and scikit-learn formulas"
    " written in torch"
)


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
    return (
        2
        * (
            y ** (2 - p) / ((1 - p) * (2 - p))
            - y * mu ** (1 - p) / (1 - p)  # sklearn's
            + mu ** (2 - p) / (2 - p)
        )
    ).mean()


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
        f"charbonnier_loss n={n:.0e} vs kornia": (
            "pair",
            lambda F, a, b: F.charbonnier_loss(a, b),
            _kornia("charbonnier_loss"),
        ),
        f"welsch_loss n={n:.0e} vs kornia": (
            "pair",
            lambda F, a, b: F.welsch_loss(a, b),
            _kornia("welsch_loss"),
        ),
        f"cauchy_loss n={n:.0e} vs kornia": (
            "pair",
            lambda F, a, b: F.cauchy_loss(a, b),
            _kornia("cauchy_loss"),
        ),
        f"geman_mcclure_loss n={n:.0e} vs kornia": (
            "pair",
            lambda F, a, b: F.geman_mcclure_loss(a, b),
            _kornia("geman_mcclure_loss"),
        ),
        f"log_cosh_loss n={n:.0e} vs Keras formula in torch": (
            "pair",
            lambda F, a, b: F.log_cosh_loss(a, b),
            _torch_log_cosh,
        ),
        f"barron_loss a=0.5 n={n:.0e} vs paper's formula in torch": (
            "pair",
            lambda F, a, b: F.barron_loss(a, b, alpha=0.5),
            _torch_barron,
        ),
        f"pinball_loss q=0.9 n={n:.0e} vs sklearn formula in torch": (
            "pair",
            lambda F, a, b: F.pinball_loss(a, b, 0.9),
            _torch_pinball,
        ),
        f"tweedie_loss p=1.5 n={n:.0e} vs sklearn formula in torch": (
            "positive",
            lambda F, a, b: F.tweedie_loss(a, b, power=1.5),
            _torch_tweedie,
        ),
        "asymmetric_loss 1024x80 vs timm": (
            "multilabel",
            lambda F, a, b: F.asymmetric_loss(a, b, reduction="mean"),
            lambda a, b: _timm_asl()(a, b),
        ),
        "wasserstein_1d p=2 n=1e+05 vs POT": (
            "line",
            lambda F, a, b: F.wasserstein_1d(a, b, p=2),
            _pot_wasserstein,
        ),
        "mmd_loss gaussian 1024x1024x3 vs geomloss": (
            "cloud",
            lambda F, a, b: F.mmd_loss(a, b, blur=0.5),
            _geomloss("gaussian", blur=0.5),
        ),
    }


def _inputs(kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    if kind == "pair":
        return (rng.standard_normal(n) * 3).astype(np.float32), rng.standard_normal(n).astype(
            np.float32
        )
    if kind == "positive":
        return rng.uniform(0.1, 3, n).astype(np.float32), rng.poisson(1.5, n).astype(np.float32)
    if kind == "multilabel":
        return (rng.standard_normal((1024, 80)) * 2).astype(np.float32), rng.integers(
            0, 2, (1024, 80)
        ).astype(np.float32)
    if kind == "line":
        return rng.standard_normal(100_000).astype(np.float32), rng.standard_normal(100_000).astype(
            np.float32
        )
    points = n if kind == "sinkhorn" else 1024
    return rng.uniform(0, 1, (points, 3)).astype(np.float32), rng.uniform(0, 1, (points, 3)).astype(
        np.float32
    )


def _make(kind: str, n: int, ours: Callable[..., Any], theirs: Callable[..., Any]) -> Make:
    def make() -> tuple[Callable[[], None], Callable[[], None]]:
        first, second = _inputs(kind, n)
        x_lg, y_lg = lossgrad.tensor(first, requires_grad=True), lossgrad.tensor(second)
        x_th, y_th = torch.tensor(first, requires_grad=True), torch.tensor(second)

        def run_ours() -> None:
            x_lg.grad = None
            ours(lossgrad.nn.functional, x_lg, y_lg).backward()

        def run_theirs() -> None:
            x_th.grad = None
            theirs(x_th, y_th).backward()

        return run_ours, run_theirs

    return make


def _sinkhorn(gradient: str, n: int) -> Make:
    """geomloss's ``SamplesLoss('sinkhorn', blur=0.05, scaling=0.5)`` on two clouds of ``n``
    points in 3-D against ``sinkhorn_loss`` with the given gradient."""

    def ours(F: Any, a: Any, b: Any) -> Any:
        return F.sinkhorn_loss(a, b, blur=0.05, scaling=0.5, gradient=gradient)

    return _make("sinkhorn", n, ours, _geomloss("sinkhorn", blur=0.05, scaling=0.5))


def rows(
    quick: bool = False, only: str | None = None, size: int | None = None
) -> list[tuple[str, Make]]:
    """One row per case: ``(name, make)``, ``make()`` building the inputs. The elementwise
    cases at 1000 and 1,000,000 elements (``size``: that one only); ``quick``: 1000 elements,
    no Sinkhorn."""
    sizes = [size] if size else [1000] if quick else [1000, 1_000_000]
    cases = {name: (n, case) for n in sizes for name, case in _cases(n).items()}
    out = [
        (name, _make(kind, n, ours, theirs)) for name, (n, (kind, ours, theirs)) in cases.items()
    ]
    if not quick:
        cloud = 4096
        out += [
            (f"sinkhorn_loss N=M={cloud} D=3 vs geomloss", _sinkhorn("exact", cloud)),
            (f"sinkhorn_loss envelope N=M={cloud} D=3 vs geomloss", _sinkhorn("envelope", cloud)),
        ]
    return [row for row in out if not only or only in row[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000, help="elementwise cases' size")
    parser.add_argument("--only", default=None, help="run the cases whose name contains this")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch's intra-op threads (lossgrad uses one)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    compare(made(rows(only=args.only, size=args.size)), repeats=args.repeats)


if __name__ == "__main__":
    main()
