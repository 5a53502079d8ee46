"""Forward+backward time and peak memory of the contrastive losses: lossgrad vs
pytorch-metric-learning (pml) and vs a straightforward torch implementation.

Run as a script: ``python benchmarks/bench_contrastive.py [--sizes 256 4096] [--no-memory]``.
Embeddings are ``(N, 128)`` float32 with ``N / 8`` classes. Ratios below 1.0 mean lossgrad is
faster (or uses less memory). Peak memory is measured as in ``suite.py``: each side in a fresh
subprocess, ``VmHWM`` above the resident set once the inputs exist. pml is left out where its
pair enumeration does not fit (NT-Xent builds a positive-pairs x negative-pairs matrix:
2.1 GB and about 20 s per call at N = 256).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as TF

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lossgrad  # noqa: E402
from _harness import measure  # noqa: E402

WIDTH = 128


def _torch_nt_xent(x: Any, y: Any, t: float = 0.07) -> Any:
    unit = TF.normalize(x, dim=1)
    logits = unit @ unit.T / t
    same = y[:, None] == y[None, :]
    positive = same & ~torch.eye(len(y), dtype=torch.bool)
    negative_lse = torch.logsumexp(logits.masked_fill(same, float("-inf")), 1, keepdim=True)
    pair = TF.softplus(negative_lse - logits)
    return pair[positive].mean()


def _torch_supcon(x: Any, y: Any, t: float = 0.1) -> Any:
    unit = TF.normalize(x, dim=1)
    logits = unit @ unit.T / t
    eye = torch.eye(len(y), dtype=torch.bool)
    positive = (y[:, None] == y[None, :]) & ~eye
    log_prob = logits - torch.logsumexp(logits.masked_fill(eye, float("-inf")), 1, keepdim=True)
    per_anchor = -(log_prob * positive).sum(1) / positive.sum(1).clamp(min=1)
    return per_anchor[positive.any(1)].mean()


def _torch_multi_similarity(x: Any, y: Any, a: float = 2.0, b: float = 50.0) -> Any:
    unit = TF.normalize(x, dim=1)
    s = unit @ unit.T
    eye = torch.eye(len(y), dtype=torch.bool)
    same = y[:, None] == y[None, :]
    pos = torch.log1p(torch.exp(-a * (s - 0.5)).masked_fill(~(same & ~eye), 0).sum(1)) / a
    neg = torch.log1p(torch.exp(b * (s - 0.5)).masked_fill(same, 0).sum(1)) / b
    return (pos + neg).mean()


def _torch_contrastive(x: Any, y: Any) -> Any:
    unit = TF.normalize(x, dim=1)
    d = torch.cdist(unit, unit)
    same = y[:, None] == y[None, :]
    positive = same & ~torch.eye(len(y), dtype=torch.bool)
    pos, neg = TF.relu(d[positive]), TF.relu(1 - d[~same])
    return pos[pos > 0].mean() + neg[neg > 0].mean()


def _torch_batch_hard(x: Any, y: Any, margin: float = 0.05) -> Any:
    unit = TF.normalize(x, dim=1)
    d = torch.cdist(unit, unit)
    same = y[:, None] == y[None, :]
    positive = same & ~torch.eye(len(y), dtype=torch.bool)
    hardest_positive = d.masked_fill(~positive, float("-inf")).max(1)[0]
    hardest_negative = d.masked_fill(same, float("inf")).min(1)[0]
    loss = TF.relu(hardest_positive - hardest_negative + margin)
    return loss[loss > 0].mean()


def _cases(size: int) -> list[tuple[str, Callable[..., Any], Any, Any]]:
    """(name, lossgrad fn, pml module or None, plain torch fn)."""
    from pytorch_metric_learning import losses, miners

    F = lossgrad.nn.functional
    hard = miners.BatchHardMiner()
    triplet = losses.TripletMarginLoss()
    return [
        # pml's NTXentLoss: a positive-pairs x negative-pairs matrix, 2.1 GB and ~20 s at N=256
        ("nt_xent", lambda x, y: F.nt_xent_loss(x, y), None, _torch_nt_xent),
        ("supcon", lambda x, y: F.supcon_loss(x, y), losses.SupConLoss(), _torch_supcon),
        (
            "multi_similarity",
            lambda x, y: F.multi_similarity_loss(x, y),
            losses.MultiSimilarityLoss(),
            _torch_multi_similarity,
        ),
        (
            "contrastive",
            lambda x, y: F.contrastive_loss(x, y),
            losses.ContrastiveLoss() if size <= 256 else None,
            _torch_contrastive,
        ),
        (
            "triplet batch_hard",
            lambda x, y: F.triplet_mining_loss(x, y, mining="batch_hard"),
            lambda x, y: triplet(x, y, hard(x, y)),
            _torch_batch_hard,
        ),
    ]


def _inputs(size: int, lib: Any) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((size, WIDTH)).astype(np.float32)
    y = rng.integers(0, max(2, size // 8), size)
    return lib.tensor(x, requires_grad=True), lib.tensor(y)


def _step(fn: Any, x: Any, y: Any) -> Callable[[], object]:
    def run() -> object:
        x.grad = None
        out = fn(x, y)
        out.backward()
        return out

    return run


def _side(name: str, size: int, side: str) -> Callable[[], object]:
    case = next(c for c in _cases(size) if c[0] == name)
    fn = {"lossgrad": case[1], "pml": case[2], "torch": case[3]}[side]
    lib = lossgrad if side == "lossgrad" else torch
    return _step(fn, *_inputs(size, lib))


def _rss_kb(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name):
                return int(line.split()[1])
    raise RuntimeError(field_name)


def _probe(name: str, size: int, side: str) -> None:
    import gc

    fn = _side(name, size, side)
    gc.collect()
    base = _rss_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    for _ in range(2):
        fn()
    print(json.dumps({"peak_mib": (_rss_kb("VmHWM") - base) / 1024}))


_PROBE_ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def peak(name: str, size: int, side: str) -> float:
    cmd = [sys.executable, __file__, "--probe", name, str(size), side]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=_PROBE_ENV)
    return json.loads(res.stdout.strip().splitlines()[-1])["peak_mib"]


def main(sizes: list[int], memory: bool, only: list[str] | None = None) -> None:
    header = f"{'case':<28} {'lossgrad':>10} {'pml':>10} {'ratio':>6} {'torch':>10} {'ratio':>6}"
    if memory:
        header += f" {'MiB lg':>8} {'pml':>8} {'torch':>8}"
    print(header)
    for size in sizes:
        for name, _, pml_fn, _ in _cases(size):
            if only and name not in only:
                continue
            mine = _side(name, size, "lossgrad")
            t_lg_torch, t_torch = measure(mine, _side(name, size, "torch"), repeats=3)
            pml_cells = f"{'—':>10} {'—':>6}"
            if pml_fn is not None:
                t_lg_pml, t_pml = measure(mine, _side(name, size, "pml"), repeats=3)
                pml_cells = f"{t_pml * 1e3:>8.2f}ms {t_lg_pml / t_pml:>6.2f}"
            line = f"{name + f' N={size}':<28} {t_lg_torch * 1e3:>8.2f}ms {pml_cells} "
            line += f"{t_torch * 1e3:>8.2f}ms {t_lg_torch / t_torch:>6.2f}"
            if memory:
                sides = ["lossgrad", "pml", "torch"] if pml_fn is not None else ["lossgrad"]
                peaks = {side: peak(name, size, side) for side in sides}
                if pml_fn is None:
                    peaks["torch"] = peak(name, size, "torch")
                line += f" {peaks['lossgrad']:>8.1f} {peaks.get('pml', float('nan')):>8.1f}"
                line += f" {peaks['torch']:>8.1f}"
            print(line, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 4096])
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--only", nargs="+", help="case names, e.g. nt_xent supcon")
    parser.add_argument("--probe", nargs=3)
    args = parser.parse_args()
    if args.probe:
        _probe(args.probe[0], int(args.probe[1]), args.probe[2])
    else:
        main(args.sizes, not args.no_memory, args.only)
