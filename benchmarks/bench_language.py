"""Forward+backward time and peak memory of the language-model losses: lossgrad vs torch 2.13's
``linear_cross_entropy`` (reference and chunked paths), Liger-Kernel's pure-torch chunked losses
(CPU, ``compiled=False``) and TRL's formulas as Liger writes them.

Run: ``python benchmarks/bench_language.py [--quick] [--only linear_cross_entropy] [--threads 1]
[--no-memory]``. Ratios below 1.0 mean lossgrad is faster (or uses less memory). Peak memory is
measured as in ``suite.py``: each side in a fresh subprocess, ``VmHWM`` above the resident set
once the inputs exist. ``rows()`` is the suite's interface: the head and cross-entropy at N = 4096,
D = 1024, V = 32000 and 128000 against both of torch's paths (lossgrad's chunked path in both
rows), the preference and policy losses on a batch of per-sequence (per-token for GRPO)
log-probabilities, DPO and the JSD distillation with their heads fused, and the distillation
divergences on 1024 x 32000 logits.
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
from liger_kernel.chunked_loss.cpo_loss import LigerFusedLinearCPOFunction
from liger_kernel.chunked_loss.dpo_loss import LigerFusedLinearDPOFunction, LigerFusedLinearDPOLoss
from liger_kernel.chunked_loss.grpo_loss import LigerFusedLinearGRPOFunction
from liger_kernel.chunked_loss.jsd_loss import LigerFusedLinearJSDFunction, LigerFusedLinearJSDLoss
from liger_kernel.chunked_loss.kto_loss import LigerFusedLinearKTOFunction
from liger_kernel.chunked_loss.orpo_loss import LigerFusedLinearORPOFunction
from liger_kernel.chunked_loss.simpo_loss import LigerFusedLinearSimPOFunction

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import lossgrad  # noqa: E402
from _harness import measure, measure_single_calls  # noqa: E402
from oracles import trl_dpo_formula  # noqa: E402

LF = lossgrad.nn.functional

REFERENCE = (
    "torch 2.13.0 (F.linear_cross_entropy, reference and chunked paths; torch formulas), "
    "Liger-Kernel 0.8.5 (pure-torch chunked losses, CPU, compiled=False), TRL 1.16 (formulas)"
)

Make = Callable[[], tuple[Callable[[], object], Callable[[], object]]]


def _arrays(seed: int, *shapes: tuple[int, ...], scale: float = 1.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * scale).astype(np.float32) for shape in shapes]


def _leaves(arrays: list[np.ndarray], lib: Any) -> list[Any]:
    return [lib.tensor(a, requires_grad=True) for a in arrays]


def _step(loss: Callable[[], Any], leaves: list[Any]) -> Callable[[], object]:
    def run() -> object:
        for leaf in leaves:
            leaf.grad = None
        out = loss()
        out.backward()
        return out

    return run


# -- the head and cross-entropy ----------------------------------------------------------------


def _linear_cross_entropy(n: int, d: int, v: int, torch_chunked: bool) -> Make:
    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        hidden, head = _arrays(0, (n, d), (v, d))
        head *= d**-0.5
        target = np.random.default_rng(1).integers(0, v, n)
        sides = []
        for lib, chunked in ((lossgrad, True), (torch, torch_chunked)):
            x, w = _leaves([hidden, head], lib)
            y = lib.tensor(target)
            options = lib.nn.LinearCrossEntropyOptions() if chunked else None

            def loss(lib=lib, x=x, w=w, y=y, options=options) -> Any:
                return lib.nn.functional.linear_cross_entropy(x, w, y, options=options)

            sides.append(_step(loss, [x, w]))
        return sides[0], sides[1]

    return make


def _logit_extras(n: int, v: int) -> Make:
    """``cross_entropy`` with z-loss (``lse_square_scale``) and soft-capping against the same
    formula written out in torch (the tests' oracle)."""
    scale, cap = 1e-4, 30.0

    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        (logits,) = _arrays(9, (n, v), scale=4.0)
        target = np.random.default_rng(10).integers(0, v, n)
        ours, theirs = _leaves([logits], lossgrad), _leaves([logits], torch)
        ours_target, t_target = lossgrad.tensor(target), torch.tensor(target)

        def reference() -> Any:
            capped = cap * torch.tanh(theirs[0] / cap)
            z_loss = scale * torch.logsumexp(capped, 1).square().mean()
            return TF.cross_entropy(capped, t_target) + z_loss

        return (
            _step(
                lambda: LF.cross_entropy(ours[0], ours_target, lse_square_scale=scale, softcap=cap),
                ours,
            ),
            _step(reference, theirs),
        )

    return make


def _torch_sequence_log_probs(logits: Any, labels: Any) -> Any:
    """TRL's ``selective_log_softmax`` (float32: the label's logit minus the row's logsumexp),
    masked and summed per sequence."""
    kept = labels != -100
    label_logits = logits.gather(-1, torch.where(kept, labels, 0).unsqueeze(-1)).squeeze(-1)
    return ((label_logits - torch.logsumexp(logits, -1)) * kept).sum(-1)


def _sequence_log_probs(batch: int, length: int, v: int) -> Make:
    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        (logits,) = _arrays(11, (batch, length, v), scale=2.0)
        labels = np.random.default_rng(12).integers(0, v, (batch, length))
        labels[:, : length // 4] = -100  # the prompt
        ours, theirs = _leaves([logits], lossgrad), _leaves([logits], torch)
        ours_labels, t_labels = lossgrad.tensor(labels), torch.tensor(labels)
        return (
            _step(lambda: LF.sequence_log_probs(ours[0], ours_labels).sum(), ours),
            _step(lambda: _torch_sequence_log_probs(theirs[0], t_labels).sum(), theirs),
        )

    return make


def _linear_sequence_log_probs(batch: int, length: int, d: int, v: int) -> Make:
    """The head fused with the sequence log-probabilities, against torch's reference way (the
    ``B*T x V`` logits, then TRL's formula)."""

    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        hidden, head = _arrays(13, (batch, length, d), (v, d))
        head *= d**-0.5
        labels = np.random.default_rng(14).integers(0, v, (batch, length))
        labels[:, : length // 4] = -100
        x, w = _leaves([hidden, head], lossgrad)
        tx, tw = _leaves([hidden, head], torch)
        ours_labels, t_labels = lossgrad.tensor(labels), torch.tensor(labels)
        return (
            _step(lambda: LF.linear_sequence_log_probs(x, w, ours_labels).sum(), [x, w]),
            _step(lambda: _torch_sequence_log_probs(tx @ tw.T, t_labels).sum(), [tx, tw]),
        )

    return make


def _adaptive_softmax(n: int, d: int, v: int, cutoffs: list[int]) -> Make:
    """``nn.AdaptiveLogSoftmaxWithLoss`` (``div_value`` 4) with torch's parameters, forward (its
    ``loss``) and backward into the input and every parameter."""

    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        torch.manual_seed(0)
        theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(d, v, cutoffs, div_value=4.0)
        ours = lossgrad.nn.AdaptiveLogSoftmaxWithLoss(d, v, cutoffs, div_value=4.0)
        ours.load_state_dict(
            {key: lossgrad.tensor(value.numpy()) for key, value in theirs.state_dict().items()}
        )
        (hidden,) = _arrays(15, (n, d))
        # Zipf-like targets: most tokens in the shortlist, fewer in each tail cluster
        target = np.minimum(np.random.default_rng(16).zipf(1.2, n) - 1, v - 1)
        x, tx = (
            lossgrad.tensor(hidden, requires_grad=True),
            torch.tensor(hidden, requires_grad=True),
        )
        y, ty = lossgrad.tensor(target), torch.tensor(target)
        return (
            _step(lambda: ours(x, y).loss, [x, *ours.parameters()]),
            _step(lambda: theirs(tx, ty).loss, [tx, *theirs.parameters()]),
        )

    return make


# -- preference and policy losses on per-sequence log-probabilities -----------------------------


def _logps(batch: int, count: int, lib: Any) -> list[Any]:
    rng = np.random.default_rng(2)
    return [lib.tensor(-rng.random(batch) * 40 - 1, requires_grad=True) for _ in range(count)]


#: The DPO loss types Liger implements (all of TRL's but ``ipo``, ``aot``, ``aot_unpaired``,
#: ``sigmoid_norm`` and ``sft``), with the options each row uses.
LIGER_DPO_TYPES = {
    "sigmoid": {},
    "hinge": {},
    "exo_pair": {"label_smoothing": 1e-3},
    "nca_pair": {},
    "robust": {"label_smoothing": 0.1},
    "bco_pair": {},
    "sppo_hard": {},
    "apo_zero": {},
    "apo_down": {},
    "discopop": {},
}


def _dpo(batch: int, loss_type: str) -> Make:
    options = {"beta": 0.1, "loss_type": loss_type, **LIGER_DPO_TYPES[loss_type]}

    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        ours, theirs = _logps(batch, 4, lossgrad), _logps(batch, 4, torch)
        return (
            _step(lambda: LF.dpo_loss(*ours, **options), ours),
            _step(
                lambda: LigerFusedLinearDPOFunction.preference_loss_fn(
                    theirs[0], theirs[1], theirs[0], theirs[2], theirs[3], **options
                )[0],
                theirs,
            ),
        )

    return make


#: The DPO loss types only TRL has, against its formulas copied into torch.
TRL_DPO_TYPES = ("ipo", "sigmoid_norm", "aot", "aot_unpaired")


def _dpo_trl(batch: int, loss_type: str) -> Make:
    lengths = np.random.default_rng(17).integers(1, 200, (2, batch))

    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        ours, theirs = _logps(batch, 4, lossgrad), _logps(batch, 4, torch)
        t_lengths = [torch.tensor(n, dtype=theirs[0].dtype) for n in lengths]
        options = {"beta": 0.1, "label_smoothing": 0.1}
        return (
            _step(
                lambda: LF.dpo_loss(
                    *ours,
                    loss_type=loss_type,
                    chosen_lengths=lengths[0],
                    rejected_lengths=lengths[1],
                    **options,
                ),
                ours,
            ),
            _step(
                lambda: trl_dpo_formula(
                    loss_type, *theirs, options["beta"], options["label_smoothing"], *t_lengths
                ).mean(),
                theirs,
            ),
        )

    return make


def _reference_free(batch: int, ours_fn: Any, liger: Any, kwargs: dict[str, float]) -> Make:
    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        ours, theirs = _logps(batch, 2, lossgrad), _logps(batch, 2, torch)
        return (
            _step(lambda: ours_fn(*ours, **kwargs), ours),
            _step(lambda: liger.preference_loss_fn(*theirs, theirs[0], **kwargs)[0], theirs),
        )

    return make


def _kto(batch: int) -> Make:
    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        labels = np.arange(batch) % 3 == 0
        ours, theirs = _logps(batch, 2, lossgrad), _logps(batch, 2, torch)
        return (
            _step(
                lambda: LF.kto_loss(ours[0], ours[1].detach(), lossgrad.tensor(labels), beta=0.1),
                ours[:1],
            ),
            _step(
                lambda: LigerFusedLinearKTOFunction.preference_loss_fn(
                    theirs[0], torch.tensor(labels), theirs[0], theirs[1].detach(), beta=0.1
                )[0],
                theirs[:1],
            ),
        )

    return make


def _grpo(batch: int, length: int) -> Make:
    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        rng = np.random.default_rng(3)
        logps = -rng.random((batch, length)) * 3
        old = logps + rng.normal(0, 0.1, logps.shape)
        advantages = rng.standard_normal(batch)
        mask = (rng.random((batch, length)) < 0.9).astype(np.float64)
        ours = [lossgrad.tensor(logps, requires_grad=True)]
        theirs = [torch.tensor(logps, requires_grad=True)]
        return (
            _step(
                lambda: LF.grpo_loss(
                    ours[0],
                    lossgrad.tensor(advantages),
                    lossgrad.tensor(mask),
                    old_per_token_logps=lossgrad.tensor(old),
                    loss_type="dapo",
                    epsilon_high=0.28,
                ),
                ours,
            ),
            _step(
                lambda: LigerFusedLinearGRPOFunction.ppo_loss_fn(
                    theirs[0],
                    torch.tensor(mask),
                    torch.tensor(advantages),
                    torch.tensor(mask),
                    old_per_token_logps=torch.tensor(old),
                    beta=0.0,
                    loss_type="dapo",
                    epsilon_low=0.2,
                    epsilon_high=0.28,
                )[0],
                theirs,
            ),
        )

    return make


def _dpo_fused_head(pairs: int, length: int, d: int, v: int) -> Make:
    """``linear_dpo_loss`` (the policy's and the reference's heads fused with DPO) against
    Liger's ``LigerFusedLinearDPOLoss`` on the same hidden states."""

    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        hidden, ref_hidden, head, ref_head = _arrays(
            4, (2 * pairs, length, d), (2 * pairs, length, d), (v, d), (v, d)
        )
        head *= d**-0.5
        ref_head *= d**-0.5
        labels = np.random.default_rng(5).integers(0, v, (2 * pairs, length))
        labels[:, : length // 4] = -100  # the prompt
        x, w = _leaves([hidden, head], lossgrad)
        y, ref_x, ref_w = (lossgrad.tensor(a) for a in (labels, ref_hidden, ref_head))

        def ours() -> Any:
            return LF.linear_dpo_loss(x, w, y, ref_input=ref_x, ref_weight=ref_w, beta=0.1)

        tx, tw = _leaves([hidden, head], torch)
        liger = LigerFusedLinearDPOLoss(beta=0.1, compiled=False)
        t_ref_hidden, t_ref_head, t_labels = (
            torch.tensor(a) for a in (ref_hidden, ref_head, labels)
        )
        return (
            _step(ours, [x, w]),
            _step(lambda: liger(tw, tx, t_labels, None, t_ref_hidden, t_ref_head)[0], [tx, tw]),
        )

    return make


# -- distillation -------------------------------------------------------------------------------


def _distillation_fused(n: int, d: int, v: int) -> Make:
    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        hidden, head, teacher_hidden, teacher_head = _arrays(6, (n, d), (v, d), (n, d), (v, d))
        head *= d**-0.5
        teacher_head *= d**-0.5
        labels = np.random.default_rng(7).integers(0, v, n)
        x, w = _leaves([hidden, head], lossgrad)
        tx, tw = _leaves([hidden, head], torch)
        liger = LigerFusedLinearJSDLoss(
            weight_hard_loss=0.0, weight_soft_loss=1.0, beta=0.5, temperature=2.0, compiled=False
        )
        t_teacher = [torch.tensor(a) for a in (teacher_hidden, teacher_head, labels)]
        ours_teacher = [lossgrad.tensor(a) for a in (teacher_hidden, teacher_head, labels)]
        return (
            _step(
                lambda: LF.linear_distillation_loss(
                    x,
                    w,
                    ours_teacher[0],
                    ours_teacher[1],
                    ours_teacher[2],
                    beta=0.5,
                    temperature=2.0,
                ),
                [x, w],
            ),
            _step(lambda: liger(tx, tw, *t_teacher), [tx, tw]),
        )

    return make


def _torch_tvd(student: Any, teacher: Any) -> Any:
    return 0.5 * (TF.softmax(student, -1) - TF.softmax(teacher, -1)).abs().sum(-1).mean()


def _torch_kl(student: Any, teacher: Any, temperature: float = 2.0) -> Any:
    log_s = TF.log_softmax(student / temperature, -1)
    log_t = TF.log_softmax(teacher / temperature, -1)
    return temperature**2 * TF.kl_div(log_s, log_t, reduction="batchmean", log_target=True)


def _distillation(n: int, v: int, ours_fn: Any, reference: Any, kwargs: dict[str, Any]) -> Make:
    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        student, teacher = _arrays(8, (n, v), (n, v), scale=2.0)
        ours, theirs = _leaves([student], lossgrad), _leaves([student], torch)
        ours_teacher, t_teacher = lossgrad.tensor(teacher), torch.tensor(teacher)
        return (
            _step(lambda: ours_fn(ours[0], ours_teacher, **kwargs), ours),
            _step(lambda: reference(theirs[0], t_teacher), theirs),
        )

    return make


def _liger_jsd(student: Any, teacher: Any) -> Any:
    return LigerFusedLinearJSDFunction.distillation_loss_fn(student, teacher, beta=0.5) / len(
        student
    )


#: What ``benchmarks/suite.py`` runs (``rows(quick, **SUITE_ROWS)``) and says about the rest.
SUITE_ROWS = {"vocabularies": (32000,)}
SUITE_NOTE = (
    "language: the linear_cross_entropy rows at V = 128000 (20-65 s per call on each side)"
    " are not in the suite's run; `python benchmarks/bench_language.py --vocabularies 128000`"
    " measures them (docs/losses/language.md has the last measurement: 0.79 / 0.76 of torch's"
    " reference path's time at 0.14 of its peak, 0.44 / 0.55 of its chunked path's at 0.78)"
)


def rows(
    quick: bool = False, vocabularies: tuple[int, ...] = (32000, 128000)
) -> list[tuple[str, Make]]:
    """``(name, make)`` per case; ``make()`` returns the lossgrad and reference forward+backward.
    ``quick``: small sizes only; ``vocabularies``: the head's sizes V of the full run."""
    heads = [(256, 128, 1000)] if quick else [(4096, 1024, v) for v in vocabularies]
    out: list[tuple[str, Make]] = []
    for n, d, v in heads:
        size = f"{n}x{d}x{v}"
        out.append((f"linear_cross_entropy {size} vs torch", _linear_cross_entropy(n, d, v, False)))
        out.append(
            (f"linear_cross_entropy {size} vs torch chunked", _linear_cross_entropy(n, d, v, True))
        )
    n, v = (64, 500) if quick else (4096, 32000)
    out.append((f"cross_entropy z-loss+softcap {n}x{v} vs torch formula", _logit_extras(n, v)))
    shape = (2, 32, 500) if quick else (4, 256, 32000)
    out.append(
        (
            f"sequence_log_probs {'x'.join(map(str, shape))} vs TRL formula",
            _sequence_log_probs(*shape),
        )
    )
    shape = (2, 32, 64, 500) if quick else (4, 256, 1024, 32000)
    out.append(
        (
            f"linear_sequence_log_probs {'x'.join(map(str, shape))} vs torch + TRL formula",
            _linear_sequence_log_probs(*shape),
        )
    )
    n, d, v, cutoffs = (64, 32, 1000, [100, 400]) if quick else (4096, 512, 32000, [2000, 10000])
    out.append(
        (
            f"AdaptiveLogSoftmaxWithLoss {n}x{d}x{v} vs torch",
            _adaptive_softmax(n, d, v, cutoffs),
        )
    )
    batch = 64
    for loss_type in LIGER_DPO_TYPES:
        label = "" if loss_type == "sigmoid" else f" {loss_type}"
        out.append((f"dpo_loss{label} {batch} vs Liger", _dpo(batch, loss_type)))
    for loss_type in TRL_DPO_TYPES:
        out.append((f"dpo_loss {loss_type} {batch} vs TRL formula", _dpo_trl(batch, loss_type)))
    for name, fn, liger, kwargs in (
        ("simpo_loss", LF.simpo_loss, LigerFusedLinearSimPOFunction, {"beta": 2.0, "gamma": 0.5}),
        ("cpo_loss", LF.cpo_loss, LigerFusedLinearCPOFunction, {"beta": 0.1}),
        ("orpo_loss", LF.orpo_loss, LigerFusedLinearORPOFunction, {"beta": 0.1}),
    ):
        out.append((f"{name} {batch} vs Liger", _reference_free(batch, fn, liger, kwargs)))
    out.append((f"kto_loss {batch} vs Liger", _kto(batch)))
    grpo = (4, 64) if quick else (16, 1024)
    out.append((f"grpo_loss {grpo[0]}x{grpo[1]} vs Liger", _grpo(*grpo)))
    fused = (2, 16, 32, 500) if quick else (4, 256, 1024, 32000)
    out.append(
        (f"dpo_loss (fused head) {'x'.join(map(str, fused))} vs Liger", _dpo_fused_head(*fused))
    )
    head = (64, 32, 500) if quick else (1024, 1024, 32000)
    out.append(
        (
            f"linear_distillation_loss {'x'.join(map(str, head))} vs Liger",
            _distillation_fused(*head),
        )
    )
    n, v = (64, 500) if quick else (1024, 32000)
    out.append(
        (
            f"generalized_jsd_loss {n}x{v} vs Liger",
            _distillation(n, v, LF.generalized_jsd_loss, _liger_jsd, {"beta": 0.5}),
        )
    )
    out.append((f"tvd_loss {n}x{v} vs torch", _distillation(n, v, LF.tvd_loss, _torch_tvd, {})))
    out.append(
        (
            f"distillation_kl_loss {n}x{v} vs torch",
            _distillation(n, v, LF.distillation_kl_loss, _torch_kl, {"temperature": 2.0}),
        )
    )
    return out


# -- the script -----------------------------------------------------------------------------------


def _rss_kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name):
            return int(line.split()[1])
    raise RuntimeError(field_name)


def _probe(row: str, side: int, quick: bool) -> None:
    import gc

    fn = dict(rows(quick, (32000, 128000)))[row]()[side]
    gc.collect()
    base = _rss_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    fn()
    print(json.dumps({"peak_mib": (_rss_kb("VmHWM") - base) / 1024}))


def peak(row: str, side: int, quick: bool, threads: int | None) -> float:
    """Peak MiB of one side (0: lossgrad, 1: the reference) of ``row``, in a fresh process."""
    cmd = [sys.executable, __file__, "--probe", row, str(side)]
    cmd += ["--quick"] if quick else []
    cmd += ["--threads", str(threads)] if threads else []
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])["peak_mib"]


def main(
    quick: bool,
    memory: bool,
    only: list[str] | None,
    repeats: int,
    threads: int | None,
    vocabularies: tuple[int, ...],
) -> None:
    header = f"{'case':<58} {'lossgrad':>10} {'reference':>10} {'ratio':>6}"
    print(header + (f" {'MiB lg':>8} {'MiB ref':>8} {'ratio':>6}" if memory else ""), flush=True)
    for row, make in rows(quick, vocabularies):
        if only and not any(row.startswith(name + " ") for name in only):
            continue
        mine, reference = make()
        long = row.startswith(("linear_", "dpo_loss (fused")) and not quick
        t_lg, t_ref = (measure_single_calls if long else measure)(mine, reference, repeats=repeats)
        del mine, reference
        line = f"{row:<58} {t_lg * 1e3:>8.1f}ms {t_ref * 1e3:>8.1f}ms {t_lg / t_ref:>6.2f}"
        if memory:
            lg, ref = peak(row, 0, quick, threads), peak(row, 1, quick, threads)
            line += f" {lg:>8.1f} {ref:>8.1f} {lg / max(ref, 1e-9):>6.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--only", nargs="+", help="loss names, e.g. linear_cross_entropy dpo_loss")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch's and lossgrad's thread count")
    parser.add_argument(
        "--vocabularies", nargs="+", type=int, default=[32000, 128000], help="the head's sizes V"
    )
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        lossgrad._parallel.set_num_threads(args.threads)
    if args.probe:
        _probe(args.probe[0], int(args.probe[1]), args.quick)
    else:
        main(
            args.quick,
            not args.no_memory,
            args.only,
            args.repeats,
            args.threads,
            tuple(args.vocabularies),
        )
