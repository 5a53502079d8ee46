"""DistributedDataParallel training on N ranks == torch training on the full batch in one process.

``torch_reference(path)`` (run by tests/test_distributed_mpi.py, in the pytest process) trains
the same model with torch on the whole batch and saves the parameters after every step; then
``mpiexec -n N python ddp_training.py path`` trains with lossgrad's DDP, each rank on its
DistributedSampler share, and compares after every step. Cases:

- ``equal``: each rank's loss is a plain mean over its equal share (DDP's averaging is exact);
- ``ragged``: targets ignored unevenly across ranks, class weights, label smoothing, through
  ExactMean (one all-reduce of the denominator per step);
- ``ragged_accumulation``: the same, each rank's share split into two unequal micro-batches,
  the first under ``no_sync()``;
- ``no_sync``: equal micro-batches, each loss divided by their number, all but the last under
  ``no_sync()``: the accumulated step equals the unsplit one.
- ``bucket_view``: ``no_sync`` with ``gradient_as_bucket_view=True`` and
  ``zero_grad(set_to_none=False)``, all four parameters in one bucket: the backward
  accumulates into the bucket's flat array, each ``.grad`` a view of it.
"""

from __future__ import annotations

import sys

import numpy as np

STEPS, BATCH, FEATURES, HIDDEN, CLASSES = 3, 16, 6, 8, 4
LR, MOMENTUM, SMOOTHING, IGNORE = 0.5, 0.9, 0.1, -100
CASES = ("equal", "ragged", "ragged_accumulation", "no_sync", "bucket_view")


def problem() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20)
    targets = rng.integers(0, CLASSES, (STEPS, BATCH))
    ragged = targets.copy()
    ragged[:, [0, 1, 2, 4, 5, 8]] = IGNORE  # rank 0 of 4 (samples 0, 4, 8, 12) loses three
    return {
        "inputs": rng.standard_normal((STEPS, BATCH, FEATURES)),
        "targets": targets,
        "ragged_targets": ragged,
        "class_weight": rng.uniform(0.5, 2.0, CLASSES),
        "w1": rng.standard_normal((HIDDEN, FEATURES)) * 0.5,
        "b1": rng.standard_normal(HIDDEN) * 0.1,
        "w2": rng.standard_normal((CLASSES, HIDDEN)) * 0.5,
        "b2": rng.standard_normal(CLASSES) * 0.1,
    }


def torch_reference(path: str) -> None:
    import torch

    data = problem()
    saved = {}
    for ragged in (False, True):
        model = torch.nn.Sequential(
            torch.nn.Linear(FEATURES, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, CLASSES)
        ).double()
        with torch.no_grad():
            for p, key in zip(model.parameters(), ("w1", "b1", "w2", "b2")):
                p.copy_(torch.from_numpy(data[key]))
        optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        targets = data["ragged_targets" if ragged else "targets"]
        options = (
            {
                "weight": torch.from_numpy(data["class_weight"]),
                "ignore_index": IGNORE,
                "label_smoothing": SMOOTHING,
            }
            if ragged
            else {}
        )
        for step in range(STEPS):
            optimizer.zero_grad()
            logits = model(torch.from_numpy(data["inputs"][step]))
            torch.nn.functional.cross_entropy(
                logits, torch.from_numpy(targets[step]), **options
            ).backward()
            optimizer.step()
            for index, p in enumerate(model.parameters()):
                saved[f"ragged={ragged} step={step} param={index}"] = p.detach().numpy().copy()
    np.savez(path, **saved)


def train(case: str, reference: dict[str, np.ndarray]) -> None:
    import lossgrad as torch
    import lossgrad.distributed as dist
    import lossgrad.nn.functional as F
    from lossgrad.distributed import ExactMean
    from lossgrad.nn.parallel import DistributedDataParallel
    from lossgrad.utils.data import DistributedSampler

    rank, size = dist.get_rank(), dist.get_world_size()
    data = problem()
    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, CLASSES)
    ).double()
    with torch.no_grad():
        for p, key in zip(model.parameters(), ("w1", "b1", "w2", "b2")):
            p.copy_(torch.from_numpy(data[key] + rank))  # ranks > 0 wrong: the broadcast fixes it
    view = case == "bucket_view"
    ddp = DistributedDataParallel(
        model,
        bucket_cap_mb={"ragged": 0.0003, "bucket_view": 0.001}.get(case),
        gradient_as_bucket_view=view,
    )
    optimizer = torch.optim.SGD(ddp.parameters(), lr=LR, momentum=MOMENTUM)
    mine = list(DistributedSampler(range(BATCH), shuffle=False))
    ragged = case.startswith("ragged")
    targets = data["ragged_targets" if ragged else "targets"]
    mean = ExactMean(
        F.cross_entropy,
        weight=torch.from_numpy(data["class_weight"]),
        ignore_index=IGNORE,
        label_smoothing=SMOOTHING,
    )
    for step in range(STEPS):
        optimizer.zero_grad(set_to_none=not view)
        x = torch.from_numpy(data["inputs"][step][mine])
        y = torch.from_numpy(targets[step][mine])
        if case == "equal":
            F.cross_entropy(ddp(x), y).backward()
        elif case == "ragged":
            denominator = mean.denominator([y])
            mean(ddp(x), y, denominator=denominator).backward()
        elif case == "ragged_accumulation":
            cut = 1 if len(mine) > 1 else 0  # unequal micro-batches (one may be empty)
            pieces = [(x[:cut], y[:cut]), (x[cut:], y[cut:])]
            denominator = mean.denominator([target for _, target in pieces])
            with ddp.no_sync():
                mean(ddp(pieces[0][0]), pieces[0][1], denominator=denominator).backward()
            mean(ddp(pieces[1][0]), pieces[1][1], denominator=denominator).backward()
        else:  # no_sync, equal micro-batches of one sample... or the whole share
            count = len(mine) // 2 if len(mine) > 1 else 1
            chunk = len(mine) // count
            for k in range(count):
                piece = slice(k * chunk, (k + 1) * chunk)
                loss = F.cross_entropy(ddp(x[piece]), y[piece]) / count
                if k < count - 1:
                    with ddp.no_sync():
                        loss.backward()
                else:
                    loss.backward()
        if view:  # each gradient in its bucket's flat array (there since the first step)
            assert all(
                any(np.shares_memory(p.grad.numpy(), b.flat) for b in ddp._buckets)
                for p in model.parameters()
            ), f"rank {rank} step {step}: a gradient outside the buckets"
        optimizer.step()
        for index, p in enumerate(model.parameters()):
            expected = reference[f"ragged={ragged} step={step} param={index}"]
            np.testing.assert_allclose(
                p.detach().numpy(),
                expected,
                rtol=1e-10,
                atol=1e-12,
                err_msg=f"{case}: rank {rank} of {size}, step {step}, parameter {index}",
            )
    names = list(ddp.state_dict())
    assert names == ["module.0.weight", "module.0.bias", "module.2.weight", "module.2.bias"], names


def check_unused_parameters() -> None:
    """``find_unused_parameters``: a layer used on the odd ranks only gets the average of their
    gradients (zero contributions from the others); one used by no rank keeps ``grad=None``.
    Without the option, the unfinished reduction is reported at the next forward, as torch."""
    import lossgrad as torch
    import lossgrad.distributed as dist
    from lossgrad.nn.parallel import DistributedDataParallel

    rank, size = dist.get_rank(), dist.get_world_size()

    class Branches(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.always = torch.nn.Linear(3, 2, bias=False)
            self.odd = torch.nn.Linear(3, 2, bias=False)
            self.never = torch.nn.Linear(3, 2, bias=False)

        def forward(self, x):
            out = self.always(x).sum()
            return out + self.odd(x).sum() if rank % 2 == 1 else out

    x_of = [np.full((1, 3), r + 1.0, np.float32) for r in range(size)]  # dW = ones(2,1) @ x
    model = DistributedDataParallel(Branches(), find_unused_parameters=True)
    model(torch.from_numpy(x_of[rank])).backward()
    expected_always = np.repeat(np.mean(x_of, axis=0), 2, axis=0)
    np.testing.assert_allclose(model.module.always.weight.grad.numpy(), expected_always, 1e-6)
    odd = sum(x_of[r] for r in range(1, size, 2)) / size
    if size > 1:
        np.testing.assert_allclose(model.module.odd.weight.grad.numpy(), np.repeat(odd, 2, 0))
    else:
        assert model.module.odd.weight.grad is None
    assert model.module.never.weight.grad is None

    strict = DistributedDataParallel(Branches())
    strict(torch.from_numpy(x_of[rank])).backward()
    try:
        strict(torch.from_numpy(x_of[rank]))
    except RuntimeError as error:
        assert "Expected to have finished reduction in the prior iteration" in str(error)
    else:
        raise AssertionError("an unfinished reduction was not reported")


def check_overlap() -> None:
    """A bucket's all-reduce starts as soon as its gradients are final, while the backward
    still has the first layer to run (one parameter per bucket here); the gradients are then
    the average of the ranks' (each rank's input is its rank + 1, so dL/db1 is known)."""
    import lossgrad as torch
    import lossgrad.distributed as dist
    from lossgrad.nn.parallel import DistributedDataParallel

    rank, size = dist.get_rank(), dist.get_world_size()
    events: list[str] = []

    class Logged:  # the group's communicator, noting each non-blocking all-reduce it starts
        def __init__(self, comm) -> None:
            self.comm = comm

        def __getattr__(self, name: str):
            return getattr(self.comm, name)

        def Iallreduce(self, *args):  # noqa: N802 - mpi4py's name
            events.append("all-reduce")
            return self.comm.Iallreduce(*args)

    def note_first_layer_backward(module, inputs, h) -> None:
        backward = h.grad_fn._backward_array
        h.grad_fn._backward_array = lambda node, *grads: (
            events.append("h") or backward(node, *grads)
        )

    first, second = torch.nn.Linear(3, 4).double(), torch.nn.Linear(4, 2).double()
    first.register_forward_hook(note_first_layer_backward)
    ddp = DistributedDataParallel(torch.nn.Sequential(first, second), bucket_cap_mb=1e-6)
    group = ddp.process_group
    group._comm = Logged(group._comm)
    try:
        ddp(torch.full((1, 3), rank + 1.0, dtype=torch.float64)).sum().backward()
    finally:
        group._comm = group._comm.comm
    assert events == ["all-reduce"] * 2 + ["h"] + ["all-reduce"] * 2, events
    expected = second.weight.detach().numpy().sum(axis=0)  # dL/db1, the same on every rank
    np.testing.assert_allclose(first.bias.grad.numpy(), expected, rtol=1e-12)
    expected_w = np.outer(expected, np.full(3, np.mean(np.arange(1.0, size + 1))))
    np.testing.assert_allclose(first.weight.grad.numpy(), expected_w, rtol=1e-12)
    # each gradient was averaged in its own array: no bucket made a flat copy
    assert all(bucket.flat is None for bucket in ddp._buckets)
    # a gradient that is not contiguous goes through its bucket's flat array instead
    first.weight.grad = torch.zeros(3, 4, dtype=torch.float64).t()
    first.bias.grad = None
    ddp(torch.full((1, 3), rank + 1.0, dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(first.weight.grad.numpy(), expected_w, rtol=1e-12)
    np.testing.assert_allclose(first.bias.grad.numpy(), expected, rtol=1e-12)
    assert [bucket.flat is None for bucket in ddp._buckets] == [True, True, True, False]
    # a gradient larger than a piece is divided and all-reduced piece by piece (pieces of five
    # float64 here: 2 + 8 + 4 + 12 gradients make 1 + 2 + 1 + 3 all-reduces, at most one piece
    # in flight before the newest), the same average
    from lossgrad.nn.parallel import distributed

    ddp.zero_grad(set_to_none=True)
    events.clear()
    sizes = distributed._PIECE_BYTES, distributed._IN_FLIGHT_BYTES
    distributed._PIECE_BYTES = distributed._IN_FLIGHT_BYTES = 40
    group._comm = Logged(group._comm)
    try:
        ddp(torch.full((1, 3), rank + 1.0, dtype=torch.float64)).sum().backward()
    finally:
        group._comm = group._comm.comm
        distributed._PIECE_BYTES, distributed._IN_FLIGHT_BYTES = sizes
    assert events == ["all-reduce"] * 3 + ["h"] + ["all-reduce"] * 4, events
    np.testing.assert_allclose(first.weight.grad.numpy(), expected_w, rtol=1e-12)
    np.testing.assert_allclose(first.bias.grad.numpy(), expected, rtol=1e-12)


def main(path: str) -> None:
    import lossgrad.distributed as dist

    dist.init_process_group("mpi")
    reference = dict(np.load(path))
    for case in CASES:
        train(case, reference)
    check_unused_parameters()
    check_overlap()
    if dist.get_rank() == 0:
        print(f"ddp training ok on {dist.get_world_size()} ranks: {', '.join(CASES)}, overlap")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
