"""Small tutorial-style programs (``tests/programs/*.py``, written for this project) run
unchanged under torch and under lossgrad, with only the ``torch`` imports pointed at lossgrad,
and print the same values to float32 tolerance.

Each program imports ``torch`` (and ``torch.nn``, ``torch.utils.data``, ...), feeds identical
inputs from NumPy where it needs random numbers (the two libraries' random streams differ), and
prints what a tutorial prints. The runner executes it twice in this process: once as it is, once
with ``sys.modules`` mapping the torch module names to lossgrad's, and compares the two outputs
line by line: the text exactly, the numbers to a relative 1e-4 (float32 rounding accumulated
over a few training steps).
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import runpy
import sys
import warnings
from pathlib import Path

import pytest

import lossgrad

PROGRAMS = sorted((Path(__file__).parent / "programs").glob("*.py"))
#: The torch module names the programs import, and the lossgrad module each one becomes.
ALIASES = {
    "torch": "lossgrad",
    "torch.nn": "lossgrad.nn",
    "torch.nn.functional": "lossgrad.nn.functional",
    "torch.nn.init": "lossgrad.nn.init",
    "torch.optim": "lossgrad.optim",
    "torch.autograd": "lossgrad.autograd",
    "torch.utils": "lossgrad.utils",
    "torch.utils.data": "lossgrad.utils.data",
    "torch.serialization": "lossgrad.serialization",
}
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf")


@contextlib.contextmanager
def torch_is_lossgrad():
    """``import torch`` (and the submodules above) gives lossgrad's modules inside the block."""
    import importlib

    saved = {name: sys.modules.get(name) for name in ALIASES}
    try:
        for name, target in ALIASES.items():
            sys.modules[name] = importlib.import_module(target)
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def run_program(path: Path) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runpy.run_path(str(path), run_name="__main__")
    return out.getvalue()


def assert_same_output(lossgrad_out: str, torch_out: str, rtol: float = 1e-4) -> None:
    lg_lines, th_lines = lossgrad_out.splitlines(), torch_out.splitlines()
    assert len(lg_lines) == len(th_lines), f"torch printed:\n{torch_out}\nlossgrad:\n{lossgrad_out}"
    for lg_line, th_line in zip(lg_lines, th_lines):
        assert NUMBER.sub("#", lg_line) == NUMBER.sub("#", th_line), (
            f"line differs:\nlossgrad {lg_line}\ntorch    {th_line}"
        )
        for lg_num, th_num in zip(NUMBER.findall(lg_line), NUMBER.findall(th_line)):
            a, b = float(lg_num), float(th_num)
            same = (math.isnan(a) and math.isnan(b)) or math.isclose(
                a, b, rel_tol=rtol, abs_tol=1e-5
            )
            assert same, f"value differs:\nlossgrad {lg_line}\ntorch    {th_line}"


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.stem)
def test_program_prints_the_same_under_torch_and_lossgrad(program):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # tiny tensors: torch's thread pool only adds waiting on a busy machine
    try:
        torch_out = run_program(program)
    finally:
        torch.set_num_threads(threads)
    with torch_is_lossgrad():
        lossgrad_out = run_program(program)
    assert torch_out.strip(), "the program printed nothing"
    assert_same_output(lossgrad_out, torch_out)


def test_there_are_at_least_ten_programs():
    assert len(PROGRAMS) >= 10


def test_the_alias_really_swaps_the_library():
    with torch_is_lossgrad():
        import torch

        assert torch is lossgrad
    import torch

    assert torch is not lossgrad
