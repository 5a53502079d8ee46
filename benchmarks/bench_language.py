"""linear_cross_entropy forward+backward: lossgrad's chunked path vs torch's reference and
chunked paths (float32), time and peak memory.

Run: ``python benchmarks/bench_language.py`` (``--sizes N,D,V ...`` to choose shapes).
Each case runs in a fresh subprocess: the inputs are built, the peak resident-set counter is
reset (``/proc/self/clear_refs``), one warm-up forward+backward runs, then the best of
``--repeats`` timed runs is kept; the peak is the resident high-water mark above the memory
held after the warm-up's inputs were built. Prints seconds, peak MiB and lossgrad's ratios to
each torch path (below 1.0: lossgrad is faster / smaller).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CASES = ("torch-reference", "torch-chunked", "lossgrad-chunked")


def _resident_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise RuntimeError(field)


def _run_case(case: str, n: int, d: int, v: int, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((n, d), dtype=np.float32) * 0.5
    head = rng.standard_normal((v, d), dtype=np.float32) * d**-0.5
    target = rng.integers(0, v, n)
    if case.startswith("torch"):
        import torch as lib
    else:
        sys.path.insert(0, str(Path(__file__).parents[1] / "src"))
        import lossgrad as lib
    x = lib.tensor(hidden, requires_grad=True)
    w = lib.tensor(head, requires_grad=True)
    y = lib.tensor(target)
    options = None if case.endswith("reference") else lib.nn.LinearCrossEntropyOptions()

    def step() -> None:
        x.grad = w.grad = None
        lib.nn.functional.linear_cross_entropy(x, w, y, options=options).backward()

    Path("/proc/self/clear_refs").write_text("5")
    base = _resident_kib("VmRSS:")
    step()
    peak = _resident_kib("VmHWM:") - base
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"seconds": min(times), "peak_mib": peak / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="*", default=["4096,1024,32000", "1024,1024,128000"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        n, d, v = map(int, args.sizes[0].split(","))
        print(json.dumps(_run_case(args.case, n, d, v, args.repeats)))
        return
    for size in args.sizes:
        results = {}
        for case in CASES:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--case",
                    case,
                    "--sizes",
                    size,
                    "--repeats",
                    str(args.repeats),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            results[case] = json.loads(out.stdout)
        ours = results["lossgrad-chunked"]
        print(f"N,D,V = {size}")
        for case in CASES:
            r = results[case]
            print(f"  {case:18s} {r['seconds']:7.3f} s  peak {r['peak_mib']:8.1f} MiB")
        for case in CASES[:2]:
            r = results[case]
            print(
                f"  lossgrad / {case:16s} time {ours['seconds'] / r['seconds']:.2f}"
                f"  peak {ours['peak_mib'] / max(r['peak_mib'], 1e-9):.2f}"
            )


if __name__ == "__main__":
    main()
