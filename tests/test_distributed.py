"""lossgrad.distributed in one process: the exact cost against torch's full-batch gradient,
DistributedSampler against torch's, the post-accumulate-grad hook, errors, the launcher.

The multi-rank tests (collectives, DistributedDataParallel, faults) run under mpiexec from
tests/test_distributed_mpi.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch.utils.data.distributed import DistributedSampler as TorchDistributedSampler

import lossgrad
import lossgrad.distributed as dist
import lossgrad.nn.functional as F
from lossgrad import cli
from lossgrad.distributed import ExactMean, launch
from lossgrad.utils.data import DistributedSampler

SRC = Path(__file__).resolve().parents[1] / "src"


# -- the exact cost: pieces give torch's full-batch 'mean' and its gradient --------------------


def _ctc_case(rng):
    time_steps, batch, classes = 12, 6, 5
    log_probs = rng.standard_normal((time_steps, batch, classes))  # logits: see the test
    target_lengths = np.array([3, 1, 4, 2, 0, 3])
    targets = rng.integers(1, classes, (batch, 4))
    input_lengths = np.array([12, 10, 12, 9, 12, 11])
    return log_probs, [targets, input_lengths, target_lengths], {}


def _ce_index(rng, weight=True, smoothing=0.1, ignore=-100, kdim=False):
    shape = (8, 5, 3) if kdim else (8, 5)
    logits = rng.standard_normal(shape)
    target = rng.integers(0, 5, (8, 3) if kdim else (8,))
    target[[1, 2, 3]] = ignore  # ragged: the first piece holds most of the ignored targets
    options = {"ignore_index": ignore, "label_smoothing": smoothing}
    if weight:
        options["weight"] = rng.uniform(0.5, 2.0, 5)
    return logits, [target], options


def _ce_probabilities(rng):
    logits = rng.standard_normal((8, 4, 2))
    target = rng.dirichlet(np.ones(4), (8, 2)).transpose(0, 2, 1)
    return logits, [target], {"label_smoothing": 0.2, "weight": rng.uniform(0.5, 2.0, 4)}


def _nll(rng):
    logits, args, options = _ce_index(rng, smoothing=0.0)
    options.pop("label_smoothing")
    return np.log(np.exp(logits) / np.exp(logits).sum(1, keepdims=True)), args, options


def _pointwise(target_kind="normal"):
    def build(rng):
        x = rng.standard_normal((8, 3))
        y = (
            rng.uniform(0.05, 0.95, (8, 3))
            if target_kind == "unit"
            else rng.standard_normal((8, 3))
        )
        return x, [y], {}

    return build


CASES = {
    "cross_entropy weight+ignore+smoothing": ("cross_entropy", _ce_index),
    "cross_entropy K-dim, no weight": (
        "cross_entropy",
        lambda rng: _ce_index(rng, weight=False, smoothing=0.0, kdim=True),
    ),
    "cross_entropy probabilities": ("cross_entropy", _ce_probabilities),
    "nll_loss weight+ignore": ("nll_loss", _nll),
    "ctc_loss per-length mean": ("ctc_loss", _ctc_case),
    "kl_div batchmean": (
        "kl_div",
        lambda rng: (
            np.log(rng.dirichlet(np.ones(4), 8)),
            [rng.dirichlet(np.ones(4), 8)],
            {"reduction": "batchmean"},
        ),
    ),
    "mse_loss": ("mse_loss", _pointwise()),
    "l1_loss": ("l1_loss", _pointwise()),
    "huber_loss": ("huber_loss", _pointwise()),
    "binary_cross_entropy_with_logits": ("binary_cross_entropy_with_logits", _pointwise("unit")),
    "multilabel_soft_margin_loss": (
        "multilabel_soft_margin_loss",
        lambda rng: (rng.standard_normal((8, 4)), [rng.integers(0, 2, (8, 4)) * 1.0], {}),
    ),
    "multilabel_margin_loss": (
        "multilabel_margin_loss",
        lambda rng: (
            rng.standard_normal((8, 4)),
            [np.array([[3, 0, -1, 1]] * 4 + [[1, -1, 0, 0]] * 4)],
            {},
        ),
    ),
    "multi_margin_loss": (
        "multi_margin_loss",
        lambda rng: (rng.standard_normal((8, 4)), [rng.integers(0, 4, 8)], {}),
    ),
    "triplet_margin_loss": (
        "triplet_margin_loss",
        lambda rng: (
            rng.standard_normal((8, 3)),
            [rng.standard_normal((8, 3)), rng.standard_normal((8, 3))],
            {},
        ),
    ),
    "cosine_embedding_loss": (
        "cosine_embedding_loss",
        lambda rng: (
            rng.standard_normal((8, 3)),
            [rng.standard_normal((8, 3)), rng.choice([-1.0, 1.0], 8)],
            {"margin": 0.1},
        ),
    ),
}


def _split(name, args, start, stop):
    if name == "ctc_loss":
        targets, input_lengths, target_lengths = args
        return [targets[start:stop], input_lengths[start:stop], target_lengths[start:stop]]
    return [a[start:stop] for a in args]


def _lg(a):
    return lossgrad.tensor(a)


@pytest.mark.parametrize("case", list(CASES))
def test_exact_mean_of_pieces_is_torch_full_batch_mean(case):
    name, build = CASES[case]
    rng = np.random.default_rng(0)
    input_np, args_np, options = build(rng)
    options_t = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    # CTC's gradient is torch's only after a log_softmax (torch-semantics A1): take logits
    prepare = (lambda x: x.log_softmax(-1)) if name == "ctc_loss" else (lambda x: x)
    x_t = torch.tensor(input_np, requires_grad=True)
    full = getattr(TF, name)(prepare(x_t), *map(torch.tensor, args_np), **options_t)
    full.backward()

    options_l = {k: _lg(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    mean = ExactMean(getattr(F, name), **options_l)
    bounds = [(0, 2), (2, 3), (3, 8)]  # ragged pieces
    pieces = []
    for start, stop in bounds:
        piece_input = input_np[:, start:stop] if name == "ctc_loss" else input_np[start:stop]
        pieces.append(
            (
                _lg(piece_input).requires_grad_(),
                [_lg(a) for a in _split(name, args_np, start, stop)],
            )
        )
    denominator = mean.denominator([tuple(args) for _, args in pieces])
    cost = 0.0
    for piece_input, args in pieces:
        loss = mean(prepare(piece_input), *args, denominator=denominator)
        loss.backward()
        cost = cost + loss.item()
    grad = np.concatenate([p.grad.numpy() for p, _ in pieces], axis=1 if name == "ctc_loss" else 0)
    np.testing.assert_allclose(cost, full.item(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, x_t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_mean_of_means_differs_and_exact_mean_fixes_it():
    """The pitfall itself: equal weight per piece is not the mean over the tokens."""
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [1.0, 1.0]])
    target = np.array([0, 1, 1, -100])
    full = TF.cross_entropy(torch.tensor(logits), torch.tensor(target)).item()
    halves = [(slice(0, 2)), slice(2, 4)]
    mean_of_means = np.mean(
        [TF.cross_entropy(torch.tensor(logits[s]), torch.tensor(target[s])).item() for s in halves]
    )
    mean = ExactMean(F.cross_entropy)
    total = mean.denominator([_lg(target[s]) for s in halves])
    exact = sum(mean(_lg(logits[s]), _lg(target[s]), denominator=total).item() for s in halves)
    assert abs(mean_of_means - full) > 0.4
    assert exact == pytest.approx(full, rel=1e-12)


def test_exact_mean_all_ignored_is_nan_like_torch_and_bad_reduction_raises():
    mean = ExactMean(F.cross_entropy)
    target = _lg(np.array([-100, -100]))
    assert mean.denominator([target]) == 0.0
    assert np.isnan(mean(_lg(np.zeros((2, 3))), target, denominator=0.0).item())
    assert np.isnan(TF.cross_entropy(torch.zeros(2, 3), torch.tensor([-100, -100])).item())
    with pytest.raises(ValueError, match="reduction='sum'"):
        ExactMean(F.mse_loss, reduction="sum")
    with pytest.raises(ValueError, match="sum of the weights"):
        ExactMean(F.mse_loss, weight=_lg(np.ones(3)))


# -- DistributedSampler: torch's index lists -----------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 5, 7, 16, 33])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
def test_distributed_sampler_matches_torch(size, replicas):
    for shuffle in (False, True):
        for drop_last in (False, True):
            for rank in range(replicas):
                ours = DistributedSampler(range(size), replicas, rank, shuffle, 7, drop_last)
                theirs = TorchDistributedSampler(range(size), replicas, rank, shuffle, 7, drop_last)
                for epoch in (0, 1, 5):
                    ours.set_epoch(epoch)
                    theirs.set_epoch(epoch)
                    assert list(ours) == list(theirs)
                    assert len(ours) == len(theirs)


def test_distributed_sampler_rank_error_and_base_class():
    with pytest.raises(
        ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"
    ):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    assert isinstance(DistributedSampler(range(4), 2, 0), lossgrad.utils.data.Sampler)


# -- Tensor.register_post_accumulate_grad_hook (torch's semantics) -----------------------------


def test_post_accumulate_grad_hook_matches_torch():
    calls = {"torch": [], "lossgrad": []}
    results = {}
    for lib, module in (("torch", torch), ("lossgrad", lossgrad)):
        v = module.tensor([1.0, 2.0, 3.0], requires_grad=True)
        handle = v.register_post_accumulate_grad_hook(
            lambda p, lib=lib: calls[lib].append(p.grad.tolist())
        )
        (v * v).sum().backward()
        (v * 3).sum().backward()
        handle.remove()
        v.sum().backward()
        w = module.tensor([0.0, 0.0], requires_grad=True)  # the docstring's in-place SGD hook
        w.register_post_accumulate_grad_hook(lambda p: p.add_(p.grad, alpha=-0.01))
        w.backward(module.tensor([1.0, 2.0]))
        results[lib] = (v.grad.tolist(), w.tolist())
    assert calls["torch"] == calls["lossgrad"] == [[2.0, 4.0, 6.0], [5.0, 7.0, 9.0]]
    assert results["torch"] == results["lossgrad"]
    for module in (torch, lossgrad):
        with pytest.raises(RuntimeError, match="doesn't require gradient"):
            module.tensor([1.0]).register_post_accumulate_grad_hook(print)
        with pytest.raises(RuntimeError, match="non-leaf"):
            (module.tensor([1.0], requires_grad=True) * 2).register_post_accumulate_grad_hook(print)


def _hook_events(lib, how):
    """The order in which one backward through Linear-Tanh-Linear (the second layer applied
    twice, so that its parameters are reached by two edges) runs the parameters'
    post-accumulate-grad hooks and reaches the first layer's output ``h``: through a tensor
    hook on ``h``, or by wrapping the backward of ``h``'s node (``how="chain"``, lossgrad
    only: no hook, so the engine's chain path may run)."""
    first, second = lib.nn.Linear(3, 4), lib.nn.Linear(4, 4)
    events = []
    for name, p in (("w1", first.weight), ("b1", first.bias), ("w2", second.weight)):
        p.register_post_accumulate_grad_hook(lambda p, name=name: events.append(name))
    second.bias.register_post_accumulate_grad_hook(lambda p: events.append("b2"))
    h = first(lib.ones(5, 3))
    if how != "chain":
        h.register_hook(lambda g: events.append("h"))
    else:
        node = h.grad_fn
        backward = node._backward_array
        node._backward_array = lambda n, *g: events.append("h") or backward(n, *g)
    out = second(lib.tanh(h))
    (second(out) if how == "twice" else out).sum().backward()
    return events


@pytest.mark.parametrize("how", ["hook", "twice", "chain"])
def test_post_accumulate_grad_hooks_run_during_the_backward_as_torch(how, monkeypatch):
    """A leaf's post-accumulate-grad hooks run as soon as its gradient is final, before the
    backward reaches the layers below (torch's AccumulateGrad; DistributedDataParallel starts
    a bucket's all-reduce there), on the engine's general walk and on its chain path."""
    from lossgrad.autograd import engine

    expected = _hook_events(torch, "hook" if how == "chain" else how)
    assert expected[2] == "h" and set(expected[:2]) == {"w2", "b2"}  # torch's order
    if how == "chain":
        monkeypatch.setattr(engine, "_walk", lambda *a: pytest.fail("not the chain path"))
    events = _hook_events(lossgrad, how)
    assert events[2] == "h" and set(events[:2]) == {"w2", "b2"}, events
    assert sorted(events[3:]) == ["b1", "w1"]


def test_create_graph_warning_also_for_a_leaf_accumulated_during_the_backward():
    """torch warns (once a process) of the reference cycle when ``backward(create_graph=True)``
    accumulates into a leaf, also one whose gradient the walk accumulated early (it has a
    hook); a fresh process for each library, as the warning is given once."""
    code = (
        "import warnings\n"
        "import {lib} as t\n"
        "x = t.tensor([1.0, 2.0], requires_grad=True)\n"
        "x.register_post_accumulate_grad_hook(lambda p: None)\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    (x * x).sum().backward(create_graph=True)\n"
        "print(x.grad.tolist(), [str(x.message).split(' (Triggered')[0] for x in w])\n"
    )
    outs = [
        subprocess.run(
            [sys.executable, "-c", code.format(lib=lib)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(SRC)},
        ).stdout
        for lib in ("torch", "lossgrad")
    ]
    assert outs[1] == outs[0] and "create_graph=True will create a reference cycle" in outs[0]


def test_ddp_buckets_group_small_parameters_and_give_a_large_one_its_own():
    """Buckets follow the parameters in order, at most the cap each; a parameter of 1 MiB or
    more is reduced alone, in its own gradient's array (no copy into a shared bucket)."""
    from lossgrad.nn.parallel.distributed import DistributedDataParallel as DDP

    def param(elements, dtype=np.float32):
        return lossgrad.nn.Parameter(lossgrad.from_numpy(np.zeros(elements, dtype)))

    small, big, float64 = [param(1000) for _ in range(4)], param(2**18), param(10, np.float64)
    order = [small[0], big, small[1], float64, small[2], small[3]]
    buckets = DDP._make_buckets(order, cap_bytes=8000)
    assert [[id(p) for p in b.params] for b in buckets] == [
        [id(small[0])],
        [id(big)],
        [id(small[1]), id(small[2])],  # 8000 bytes: full
        [id(small[3])],
        [id(float64)],  # one dtype a bucket
    ]
    # gradient_as_bucket_view: no parameter alone for its size, every gradient in a flat array
    buckets = DDP._make_buckets(order, cap_bytes=2**20 + 4000, own_bytes=float("inf"))
    assert [[id(p) for p in b.params] for b in buckets] == [
        [id(small[0]), id(big)],
        [id(small[1]), id(small[2]), id(small[3])],
        [id(float64)],
    ]


def test_ddp_gradient_kept_from_one_step_is_not_overwritten_by_the_next():
    """Without ``gradient_as_bucket_view`` torch copies each averaged bucket slice back into the
    parameter's own ``.grad``: a reference kept from one step still holds that step's gradient
    after the next backward (one rank: the average is the gradient itself, x for the weight;
    weight and bias share a bucket)."""
    from lossgrad.nn.parallel.distributed import DistributedDataParallel as DDP

    dist.init_process_group("mpi")
    try:
        model = DDP(lossgrad.nn.Linear(3, 1))
        model(lossgrad.tensor([[1.0, 2.0, 3.0]])).sum().backward()
        kept = model.module.weight.grad
        model.zero_grad()
        model(lossgrad.tensor([[4.0, 5.0, 6.0]])).sum().backward()
    finally:
        dist.destroy_process_group()
    np.testing.assert_array_equal(kept.numpy(), [[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(model.module.weight.grad.numpy(), [[4.0, 5.0, 6.0]])


def test_ddp_copies_the_average_into_the_gradients_own_tensor_as_torch():
    """torch's reducer copies each averaged bucket slice into the existing ``.grad``
    (``grad.copy_``): after ``zero_grad(set_to_none=False)`` the gradient is the same tensor,
    step after step (torch 2.13 with gloo on one rank: ``weight.grad is g0``); no fresh array a
    step."""
    from lossgrad.nn.parallel.distributed import DistributedDataParallel as DDP

    dist.init_process_group("mpi")
    try:
        model = DDP(lossgrad.nn.Linear(3, 1))
        model(lossgrad.tensor([[1.0, 2.0, 3.0]])).sum().backward()
        first = model.module.weight.grad
        model.zero_grad(set_to_none=False)
        model(lossgrad.tensor([[4.0, 5.0, 6.0]])).sum().backward()
    finally:
        dist.destroy_process_group()
    assert model.module.weight.grad is first
    np.testing.assert_array_equal(first.numpy(), [[4.0, 5.0, 6.0]])


# -- process group errors, as torch's --------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch: unknown device capability of "foo"
def test_backend_and_uninitialized_errors_match_torch():
    import torch.distributed as tdist

    for bad in ("foo", "nccl"):
        with pytest.raises(Exception) as theirs:
            tdist.init_process_group(bad, rank=0, world_size=1, init_method="tcp://127.0.0.1:1")
        with pytest.raises(type(theirs.value)):
            dist.init_process_group(bad)
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.all_reduce(lossgrad.ones(2))
    assert dist.is_available() and not dist.is_initialized()


def test_import_lossgrad_does_not_import_mpi4py():
    code = "import sys, lossgrad, lossgrad.distributed, lossgrad.nn.parallel; print('mpi4py' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_launcher_finds_mpiexec_and_reports_missing_mpi(tmp_path, monkeypatch, capsys):
    found = launch.find_mpiexec()
    assert found is not None and Path(found).name.startswith("mpi")
    assert launch.command(3, "train.py", ["--lr", "0.1"], "mpiexec")[:3] == ["mpiexec", "-n", "3"]
    monkeypatch.setattr(launch, "_has_mpi4py", lambda: False)
    assert cli.main(["run", "-n", "2", "x.py"]) == 1
    assert "mpi4py not found" in capsys.readouterr().err
    monkeypatch.setattr(launch, "_has_mpi4py", lambda: True)
    monkeypatch.setattr(launch, "find_mpiexec", lambda: None)
    assert cli.main(["run", "-n", "2", "x.py"]) == 1
    assert "pip install 'lossgrad[distributed]'" in capsys.readouterr().err


def test_launcher_runs_a_script_on_two_ranks(tmp_path):
    script = tmp_path / "ranks.py"
    script.write_text(
        "import sys, lossgrad.distributed as dist\n"
        "dist.init_process_group('mpi')\n"
        "print(f'rank {dist.get_rank()} of {dist.get_world_size()} args {sys.argv[1:]}')\n"
        "print('done')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "WORLD_SIZE": "7"}  # inherited, then dropped
    out = subprocess.run(
        [sys.executable, "-m", "lossgrad", "run", "-n", "2", str(script), "--lr", "0.1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.splitlines()) == [  # whole lines: stdout is line-buffered
        "done",
        "done",
        "rank 0 of 2 args ['--lr', '0.1']",
        "rank 1 of 2 args ['--lr', '0.1']",
    ]


def test_init_without_mpi4py_says_how_to_install_it(monkeypatch):
    from lossgrad.distributed import _core

    monkeypatch.setitem(_core._state, "MPI", None)
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py -> ModuleNotFoundError
    with pytest.raises(RuntimeError, match=r"pip install 'lossgrad\[distributed\]'"):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()


def test_launcher_finds_the_mpiexec_of_the_mpich_wheel():
    from_wheel = launch._from_mpich_wheel()
    assert from_wheel is not None and Path(from_wheel).name == "mpiexec"
    assert Path(launch.find_mpiexec()).resolve() == Path(from_wheel).resolve()
