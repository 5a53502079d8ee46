"""Devices, torch.cuda and friends as a CPU-only torch build has them; the default seed of an
unseeded process; the float(t) warning."""

import os
import subprocess
import sys
import warnings

import pytest
import torch

import lossgrad
from parity import check_code

CALLS = [
    "x.cuda()",
    "x.to('cuda')",
    "x.to(t.device('cuda:0'))",
    "t.ones(2, device='cuda')",
    "t.zeros(2, device=t.device('cuda', 1))",
    "t.tensor([1.0], device='cuda')",
    "t.randn(2, device='cuda')",
    "t.arange(3, device='cuda')",
    "t.device('cuda')",
    "t.device('cuda:1')",
    "t.device('cuda', 0)",
    "t.device('cpu')",
    "t.device('gpu')",
    "t.device('cpu:0')",
    "x.to('cpu')",
    "x.cpu()",
    "x.to('cpu', t.float64)",
    "x.to(device='cpu', dtype=t.float64)",
    "x.to(x.device)",
    "t.cuda.is_available()",
    "t.cuda.device_count()",
    "t.get_default_device()",
    "t.device('mps')",
    "x.to('mps')",
    "t.cuda.manual_seed(0)",
    "t.cuda.manual_seed_all(0)",
    "t.backends.mps.is_available()",
    "t.cuda.current_device()",
    "t.device('cuda') == 'cuda'",
    "str(t.device('cuda:1'))",
    "repr(t.device('cuda:1'))",
    "repr(x.device)",
    "x.is_cuda",
    "t.device(x.device)",
    "t.device(0)",
    "x.to(0)",
    "t.cuda.synchronize()",
    "t.device('cpu').index",
    "t.device('cuda:1') == t.device('cuda', 1)",
    "t.device('cuda:1') == t.device('cuda')",
    "t.accelerator.is_available()",
    "t.accelerator.current_accelerator()",
    "t.nn.Linear(2, 2).to('cuda')",
    "t.nn.Linear(2, 2).cuda()",
    "t.nn.Linear(2, 2).to('cpu').weight.dtype",
    "t.cuda.empty_cache()",
    "t.zeros(2, device='cpu')",
    "t.ones(2, device=t.device('cpu'))",
    "t.device('cuda' if t.cuda.is_available() else 'cpu')",
]


@pytest.mark.parametrize("call", CALLS)
def test_device_calls_as_torch(call):
    check_code(f"x = t.ones(2, requires_grad=True)\nout = {call}")


def test_default_device():
    try:
        check_code("t.set_default_device('cpu')\nout = t.ones(2)")
        check_code("t.set_default_device('cuda')\nout = t.ones(2)")
    finally:
        torch.set_default_device(None)
        lossgrad.set_default_device(None)


def test_float_of_a_tensor_requiring_grad_warns_once_like_torch():
    """torch warns (TORCH_WARN_ONCE) from float(t) only; item(), int() and bool() are silent."""
    code = (
        "import warnings, sys\n"
        "warnings.simplefilter('always')\n"
        "x = t.tensor([2.0], requires_grad=True)\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    x.item(); int(x); bool(x); x.tolist(); f'{x.sum():.2f}'\n"
        "    first = len(w)\n"
        "    float(x * 2); float(x)\n"
        "print(first, [str(m.message).split(' (Triggered')[0] for m in w])\n"
    )
    outputs = []
    for name in ("torch", "lossgrad"):
        program = f"import {name} as t\n" + code
        run = subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        outputs.append(run.stdout)
    assert outputs[1] == outputs[0]
    assert "Converting a tensor with requires_grad=True" in outputs[0]


def _seeds(lib: str) -> tuple[int, int]:
    program = f"import {lib} as t; print(t.initial_seed(), t.Generator().initial_seed())"
    run = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    first, generator = run.stdout.split()
    return int(first), int(generator)


def test_unseeded_process_seed_is_fresh_entropy_like_torch():
    """torch seeds the default generator from /dev/urandom: two processes differ, the seed is a
    64-bit number; a new ``Generator()`` has torch's fixed default seed."""
    for lib in ("torch", "lossgrad"):
        (a, gen_a), (b, gen_b) = _seeds(lib), _seeds(lib)
        assert a != b and 0 <= a < 2**64 and 0 <= b < 2**64
        assert gen_a == gen_b == torch.Generator().initial_seed()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert 0 <= lossgrad.seed() < 2**64
