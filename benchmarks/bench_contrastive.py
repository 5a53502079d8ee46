"""Forward+backward time and peak memory of the contrastive losses: lossgrad vs
pytorch-metric-learning (pml) and vs a straightforward torch implementation.

Run as a script: ``python benchmarks/bench_contrastive.py [--sizes 256 4096 16384]
[--only nt_xent] [--no-memory]``. Embeddings are ``(N, 128)`` float32 with ``N / 8`` classes.
Ratios below 1.0 mean lossgrad is faster (or uses less memory). Peak memory is measured as in
``suite.py``: each side in a fresh subprocess, ``VmHWM`` above the resident set once the inputs
exist. A row per loss and reference (``rows()``, the suite's interface); pml is left out where
its pair enumeration does not fit: NT-Xent builds a positive-pairs x negative-pairs matrix
(2.1 GB and about 20 s per call at N = 256), ``ContrastiveLoss`` lists every negative pair
(three ``N^2`` index arrays).
"""

from __future__ import annotations

import argparse
import json
import math
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
from _harness import measure, measure_single_calls  # noqa: E402

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


REFERENCE = "pytorch-metric-learning 2.9.0, torch 2.13.0 (a straightforward implementation)"
SIZES = (256, 4096, 16384)
#: What ``benchmarks/suite.py`` runs (``rows(quick, **SUITE_ROWS)``) and says about the rest.
SUITE_ROWS = {"sizes": (256, 4096)}
SUITE_NOTE = (
    "contrastive: the N = 16384 rows (6-53 s per call on each side, pml's peak up to 11.5 GB)"
    " are not in the suite's run; `python benchmarks/bench_contrastive.py --sizes 16384` measures"
    " them, and benchmarks/NOTES.md has their last measurement (every row below pml and the"
    " plain torch implementation in time and peak memory)"
)
#: the largest N at which pml's pair lists fit (ContrastiveLoss enumerates every pair)
PML_CONTRASTIVE_MAX = 4096
#: from this N on a call takes seconds: timed by `measure_single_calls`, probed with one call
LONG = 16384


def _cases(size: int) -> list[tuple[str, Callable[..., Any], Any, Any]]:
    """(name, lossgrad fn, pml fn or None, plain torch fn)."""
    from pytorch_metric_learning import losses, miners

    F = lossgrad.nn.functional
    hard = miners.BatchHardMiner()
    triplet = losses.TripletMarginLoss()
    return [
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
            losses.ContrastiveLoss() if size <= PML_CONTRASTIVE_MAX else None,
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


def _make(size: int, loss: Any, reference: Any) -> Callable[[], tuple[Any, Any]]:
    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        return _step(loss, *_inputs(size, lossgrad)), _step(reference, *_inputs(size, torch))

    return make


def rows(quick: bool = False, sizes: Any = SIZES) -> list[tuple[str, Callable[[], Any]]]:
    """``(name, make)`` per loss, size and reference (pml where it fits, plain torch);
    ``make()`` returns the lossgrad and reference forward+backward. ``quick``: N = 256 only."""
    out = []
    for size in (256,) if quick else sizes:
        for name, loss, pml_fn, torch_fn in _cases(size):
            sides = [("pml", pml_fn), ("torch", torch_fn)] if pml_fn is not None else []
            sides = sides or [("torch", torch_fn)]
            for reference, fn in sides:
                row = f"{name} {size}x{WIDTH} vs {reference}"
                out.append((row, _make(size, loss, fn)))
    return out


def _rss_kb(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name):
                return int(line.split()[1])
    raise RuntimeError(field_name)


def _probe(row: str, side: int) -> None:
    import gc

    size = int(row.split()[-3].split("x")[0])
    make = dict(rows(sizes=(size,)))[row]
    fn = make()[side]
    gc.collect()
    base = _rss_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    for _ in range(2 if size < LONG else 1):
        fn()
    print(json.dumps({"peak_mib": (_rss_kb("VmHWM") - base) / 1024}))


_PROBE_ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def peak(row: str, side: int) -> float:
    """Peak MiB of one side (0: lossgrad, 1: the reference) of ``row``, in a fresh process;
    NaN when it fails (out of memory)."""
    cmd = [sys.executable, __file__, "--probe", row, str(side)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=_PROBE_ENV)
    if res.returncode:  # out of memory (a limit set with ulimit -v)
        return math.nan
    return json.loads(res.stdout.strip().splitlines()[-1])["peak_mib"]


def main(sizes: list[int], memory: bool, only: list[str] | None = None, repeats: int = 3) -> None:
    header = f"{'case':<40} {'lossgrad':>11} {'reference':>11} {'ratio':>6}"
    if memory:
        header += f" {'MiB lg':>8} {'MiB ref':>8} {'ratio':>6}"
    print(header, flush=True)
    for row, make in rows(sizes=sizes):
        if only and not any(row.startswith(name + " ") for name in only):
            continue
        size = int(row.split()[-3].split("x")[0])
        mine, reference = make()
        try:
            timed = measure if size < LONG else measure_single_calls
            t_lg, t_ref = timed(mine, reference, repeats=repeats)
        except (MemoryError, RuntimeError) as exc:  # the reference's (N, N) temporaries
            print(f"{row:<40} the reference did not fit: {type(exc).__name__}", flush=True)
            continue
        finally:
            del mine, reference
        line = f"{row:<40} {t_lg * 1e3:>9.2f}ms {t_ref * 1e3:>9.2f}ms {t_lg / t_ref:>6.2f}"
        if memory:
            lg, ref = peak(row, 0), peak(row, 1)
            line += f" {lg:>8.1f} {ref:>8.1f} {lg / ref:>6.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--only", nargs="+", help="case names, e.g. nt_xent supcon")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch's and lossgrad's thread count")
    parser.add_argument("--probe", nargs=2)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        lossgrad._parallel.set_num_threads(args.threads)
    if args.probe:
        _probe(args.probe[0], int(args.probe[1]))
    else:
        main(args.sizes, not args.no_memory, args.only, args.repeats)
