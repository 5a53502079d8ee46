"""Forward+backward time and peak memory of the segmentation, box and image losses, lossgrad vs
each loss's reference library (MONAI, smp, kornia, torchvision.ops, pytorch-msssim), float32.

Run: ``python benchmarks/bench_segmentation.py`` (``--only dice``, ``--no-memory``, ``--full``).
Prints one row per case with the ratio lossgrad / reference (below 1.0: lossgrad is faster) and,
for the large cases, the peak resident memory above baseline of each side, each measured alone
in a fresh subprocess (the method of ``suite.py``). Sizes: one 2x3x32x32 batch (small; 192 box
pairs), and 16x4x256x256 for segmentation, 100k box pairs, 8x3x512x512 for SSIM (large; this
script's own run takes SSIM at 2x3x512x512 unless ``--full``, since one reference call takes
seconds there; ``rows()``, which ``suite.py`` reads, takes the issue's 8x3x512x512). MS-SSIM
runs at 2x3x192x192, the smallest image its five scales take: pytorch-msssim needs seconds
there already.
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

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
import lossgrad  # noqa: E402
from _harness import measure  # noqa: E402
from oracles import load_submodule  # noqa: E402

F = lossgrad.nn.functional
Runner = Callable[[], None]
Make = Callable[[], tuple[Runner, Runner]]

REFERENCE = (
    "MONAI 1.6.1, segmentation_models_pytorch 0.6.0, kornia 0.9.0, torchvision 0.28 loss files "
    "(torchvision.ops), pytorch-msssim 1.0.0"
)
#: Sizes of the small rows (``rows(quick=True)``).
SMALL_SIZES = ("2x3x32x32", "2x1x32x32", "192x4")


def _references() -> dict[str, Any]:
    import kornia.losses
    import monai.losses
    import pytorch_msssim

    smp = load_submodule("segmentation_models_pytorch.losses")
    return {
        "monai": monai.losses,
        "smp": smp,
        "kornia": kornia.losses,
        "msssim": pytorch_msssim,
        "giou": load_submodule("torchvision.ops.giou_loss").generalized_box_iou_loss,
        "diou": load_submodule("torchvision.ops.diou_loss").distance_box_iou_loss,
        "ciou": load_submodule("torchvision.ops.ciou_loss").complete_box_iou_loss,
    }


def _segmentation_inputs(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, shape[1], (shape[0], 1, *shape[2:])).astype(np.int64)
    return x, y


def _box_inputs(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    corner = rng.random((2, n, 2)) * 10
    size = rng.random((2, n, 2)) * 5 + 0.1
    boxes = np.concatenate([corner, corner + size], -1).astype(np.float32)
    return boxes[0], boxes[1]


def _image_inputs(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random(shape, dtype=np.float32)
    y = np.clip(x + 0.1 * rng.standard_normal(shape).astype(np.float32), 0, 1)
    return x, y


def _runner(lib: Any, call: Callable[[Any, Any], Any], x: np.ndarray, y: np.ndarray) -> Runner:
    xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y)

    def run() -> None:
        xt.grad = None
        call(xt, yt).backward()

    return run


def cases(full: bool) -> list[tuple[str, str, str, Make]]:
    """``(loss, size, reference, build)``; ``build()`` returns the (lossgrad, reference) runners.
    ``full``: SSIM at the issue's 8x3x512x512 (else 2x3x512x512)."""
    ref: dict[str, Any] = {}

    def lib(name: str) -> Any:
        if not ref:
            ref.update(_references())
        return ref[name]

    small, large = (2, 3, 32, 32), (16, 4, 256, 256)
    ssim_large = (8, 3, 512, 512) if full else (2, 3, 512, 512)
    kw = dict(softmax=True, to_onehot_y=True)
    smp_kw = dict(batch=True, smooth_nr=0.0, smooth_dr=0.0, eps=1e-7, zero_absent=True, **kw)
    out: list[tuple[str, str, str, Make]] = []

    def segmentation(
        name: str, reference: str, ours: Any, theirs: Callable[[], Any], index_only: bool = False
    ) -> None:
        for shape in (small, large):

            def build(shape: tuple[int, ...] = shape) -> tuple[Runner, Runner]:
                x, y = _segmentation_inputs(shape)
                target = y[:, 0] if index_only else y
                reference = theirs()
                return _runner(lossgrad, ours, x, target), _runner(torch, reference, x, target)

            out.append((name, "x".join(map(str, shape)), reference, build))

    segmentation(
        "dice_loss",
        "MONAI",
        lambda a, b: F.dice_loss(a, b, **kw),
        lambda: lib("monai").DiceLoss(**kw),
    )
    segmentation(
        "dice_loss",
        "smp",
        lambda a, b: F.dice_loss(a, b, **smp_kw),
        lambda: lib("smp").DiceLoss("multiclass"),
        index_only=True,
    )
    segmentation(
        "dice_loss",
        "kornia",
        lambda a, b: F.dice_loss(a, b, pool_classes=True, smooth_nr=0.0, smooth_dr=1e-8, **kw),
        lambda: lib("kornia").dice_loss,
        index_only=True,
    )
    segmentation(
        "jaccard_loss",
        "smp",
        lambda a, b: F.jaccard_loss(a, b, **smp_kw),
        lambda: lib("smp").JaccardLoss("multiclass"),
        index_only=True,
    )
    segmentation(
        "tversky_loss",
        "MONAI",
        lambda a, b: F.tversky_loss(a, b, alpha=0.3, beta=0.7, **kw),
        lambda: lib("monai").TverskyLoss(alpha=0.3, beta=0.7, **kw),
    )
    segmentation(
        "generalized_dice_loss",
        "MONAI",
        lambda a, b: F.generalized_dice_loss(a, b, **kw),
        lambda: lib("monai").GeneralizedDiceLoss(**kw),
    )
    segmentation(
        "dice_ce_loss",
        "MONAI",
        lambda a, b: F.dice_ce_loss(a, b, **kw),
        lambda: lib("monai").DiceCELoss(**kw),
    )
    segmentation(
        "dice_focal_loss",
        "MONAI",
        lambda a, b: F.dice_focal_loss(a, b, **kw),
        lambda: lib("monai").DiceFocalLoss(**kw),
    )
    segmentation(
        "mcc_loss", "MONAI", lambda a, b: F.mcc_loss(a, b, **kw), lambda: lib("monai").MCCLoss(**kw)
    )
    segmentation(
        "lovasz_softmax_loss",
        "smp",
        lambda a, b: F.lovasz_softmax_loss(a, b),
        lambda: lib("smp").LovaszLoss("multiclass"),
        index_only=True,
    )
    segmentation(
        "lovasz_softmax_loss",
        "kornia",
        lambda a, b: F.lovasz_softmax_loss(a, b, classes="all", per_image=True),
        lambda: lib("kornia").lovasz_softmax_loss,
        index_only=True,
    )

    for shape in ((2, 1, 32, 32), (16, 1, 256, 256)):

        def build_hinge(shape: tuple[int, ...] = shape) -> tuple[Runner, Runner]:
            x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            y = (np.random.default_rng(1).random((shape[0], *shape[2:])) > 0.5).astype(np.int64)
            theirs = lib("kornia").lovasz_hinge_loss
            return _runner(lossgrad, F.lovasz_hinge_loss, x, y), _runner(torch, theirs, x, y)

        out.append(("lovasz_hinge_loss", "x".join(map(str, shape)), "kornia", build_hinge))

    for count in (2 * 3 * 32, 100_000):
        for name, key in (
            ("generalized_box_iou_loss", "giou"),
            ("distance_box_iou_loss", "diou"),
            ("complete_box_iou_loss", "ciou"),
        ):

            def build_boxes(
                count: int = count, name: str = name, key: str = key
            ) -> tuple[Runner, Runner]:
                first, second = _box_inputs(count)
                ours = lambda a, b: getattr(F, name)(a, b, reduction="mean")  # noqa: E731
                theirs = lambda a, b: lib(key)(a, b, reduction="mean")  # noqa: E731
                return _runner(lossgrad, ours, first, second), _runner(torch, theirs, first, second)

            out.append((name, f"{count}x4", "torchvision", build_boxes))

    for shape in (small, ssim_large):

        def build_ssim(shape: tuple[int, ...] = shape) -> tuple[Runner, Runner]:
            x, y = _image_inputs(shape)
            theirs = lambda a, b: 1 - lib("msssim").ssim(a, b, data_range=1.0)  # noqa: E731
            ours = lambda a, b: F.ssim_loss(a, b, data_range=1.0)  # noqa: E731
            return _runner(lossgrad, ours, x, y), _runner(torch, theirs, x, y)

        def build_kornia_ssim(shape: tuple[int, ...] = shape) -> tuple[Runner, Runner]:
            x, y = _image_inputs(shape)
            theirs = lambda a, b: lib("kornia").ssim_loss(a, b, 11)  # noqa: E731
            kornia_kw = dict(data_range=1.0, padding="same", halved=True, eps=1e-12)
            ours = lambda a, b: F.ssim_loss(a, b, **kornia_kw)  # noqa: E731
            return _runner(lossgrad, ours, x, y), _runner(torch, theirs, x, y)

        def build_psnr(shape: tuple[int, ...] = shape) -> tuple[Runner, Runner]:
            x, y = _image_inputs(shape)
            theirs = lambda a, b: lib("kornia").psnr_loss(a, b, 1.0)  # noqa: E731
            ours = lambda a, b: F.psnr_loss(a, b, 1.0)  # noqa: E731
            return _runner(lossgrad, ours, x, y), _runner(torch, theirs, x, y)

        def build_tv(shape: tuple[int, ...] = shape) -> tuple[Runner, Runner]:
            x, y = _image_inputs(shape)
            theirs = lambda a, b: lib("kornia").total_variation(a).sum()  # noqa: E731
            ours = lambda a, b: F.total_variation(a).sum()  # noqa: E731
            return _runner(lossgrad, ours, x, y), _runner(torch, theirs, x, y)

        size = "x".join(map(str, shape))
        out += [
            ("ssim_loss", size, "pytorch-msssim", build_ssim),
            ("ssim_loss", size, "kornia", build_kornia_ssim),
            ("total_variation", size, "kornia", build_tv),
            ("psnr_loss", size, "kornia", build_psnr),
        ]
    ms_shape = (2, 3, 192, 192)

    def build_ms_ssim() -> tuple[Runner, Runner]:
        x, y = _image_inputs(ms_shape)
        theirs = lambda a, b: 1 - lib("msssim").ms_ssim(a, b, data_range=1.0)  # noqa: E731
        ours = lambda a, b: F.ms_ssim_loss(a, b, data_range=1.0)  # noqa: E731
        return _runner(lossgrad, ours, x, y), _runner(torch, theirs, x, y)

    out.append(("ms_ssim_loss", "x".join(map(str, ms_shape)), "pytorch-msssim", build_ms_ssim))
    return out


def rows(quick: bool = False) -> list[tuple[str, Make]]:
    """``(name, make)`` per case for ``suite.py``: ``make()`` builds the inputs and returns the
    (lossgrad, reference) runners, each one forward+backward. The issue's sizes (SSIM at
    8x3x512x512); ``quick``: only the small cases."""
    return [
        (f"{loss} {size} vs {reference}", build)
        for loss, size, reference, build in cases(full=True)
        if not quick or size in SMALL_SIZES
    ]


# -- memory (the method of suite.py: VmHWM above the baseline, each side in its own process) ---


def _rss_kb(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def _selected(full: bool) -> list[tuple[str, str, Make]]:
    """``(name, size, build)`` of this script's own run (SSIM at 8x3x512x512 only if ``full``)."""
    return [
        (f"{loss} {size} vs {reference}", size, build)
        for loss, size, reference, build in cases(full)
    ]


def _probe(index: int, side: str, full: bool) -> None:
    import gc

    build = _selected(full)[index][2]
    run = build()[0 if side == "lossgrad" else 1]
    gc.collect()
    base = _rss_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    for _ in range(2):
        run()
    print(json.dumps({"peak_mib": (_rss_kb("VmHWM") - base) / 1024}))


def _peak(index: int, full: bool) -> tuple[float, float]:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    out = []
    for side in ("lossgrad", "reference"):
        cmd = [sys.executable, __file__, "--probe", str(index), side] + (["--full"] if full else [])
        res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        out.append(json.loads(res.stdout.strip().splitlines()[-1])["peak_mib"])
    return out[0], out[1]


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run only the cases whose name contains this")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    parser.add_argument("--full", action="store_true", help="the issue's SSIM sizes (slow)")
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        _probe(int(args.probe[0]), args.probe[1], args.full)
        return
    print("| case | lossgrad | reference | ratio | peak MiB lossgrad / reference |")
    print("|---|---:|---:|---:|---:|")
    for index, (name, size, build) in enumerate(_selected(args.full)):
        if args.only and args.only not in name:
            continue
        ours, theirs = build()
        lg_time, ref_time = measure(ours, theirs, repeats=args.repeats)
        memory = ""
        if size not in SMALL_SIZES and not args.no_memory:
            memory = "{:.1f} / {:.1f}".format(*_peak(index, args.full))
        times = f"{_fmt(lg_time)} | {_fmt(ref_time)} | {lg_time / ref_time:.2f}"
        print(f"| {name} | {times} | {memory} |", flush=True)


if __name__ == "__main__":
    main()
