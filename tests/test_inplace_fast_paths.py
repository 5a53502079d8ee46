"""The direct in-place paths (``x.add_(n)`` with nothing recorded, ``N[i, j] += 1``,
``x[idx] = v`` without grad) behave as torch's: values, dtypes, version counters seen by
backward, views, and errors."""

import pytest

from parity import check_code

CASES = [
    # counting with Python ints into an int32 table, and reading it back
    "N = t.zeros((3, 3), dtype=t.int32)\n"
    "for i, j in [(0, 1), (2, 2), (0, 1), (1, 0)]:\n"
    "    N[i, j] += 1\n"
    "out = [N, N[0, 1].item(), N[0, 1].dtype]",
    # float and int casts on assignment, as torch casts
    "x = t.zeros(3, dtype=t.int64)\nx[0] = 2.7\nx[1] = t.tensor(-1.5)\nx[2] = True\nout = x",
    "x = t.zeros(2, 3)\nx[0] = t.tensor([1, 2, 3])\nx[1, 1:] = 5\nx[:, 0] = t.tensor([7.0, 8.0])\nout = x",
    "x = t.zeros(4)\nx[t.tensor([0, 2])] = t.tensor([1.0, 2.0])\nx[x > 1.5] = -1.0\nout = x",
    "x = t.zeros(2, 3)\nx[0] = t.ones(4)",
    "x = t.zeros(2, 3)\nx[:, 0] = t.ones(3)",
    "x = t.zeros(2, 3)\nx[0] = t.ones(2, 3)",
    "x = t.zeros(2, 3)\nx[0] = t.ones(1, 3)\nout = x",
    "x = t.zeros(2, 3)\nx[0:1] = t.ones(2, 3)",
    "x = t.zeros(2, 3)\nx[[0]] = t.ones(4)",
    "x = t.zeros(2, 3)\nx[...] = t.ones(3, 1)",
    "x = t.zeros(2, 3)\nx[0, 0] = t.ones(2)",
    "w = t.ones(3, requires_grad=True)\nw[[0, 1]] = 2.0",
    "w = t.ones(3, requires_grad=True)\nw[w > 0] = 1.0",
    "w = t.ones(3, requires_grad=True)\nw[:] = 1.0",
    "w = t.ones(3, requires_grad=True)\nw[...] = 1.0",
    "x = t.zeros(2, 3)\nx[5, 0] = 1.0",
    "x = t.zeros(2, 3)\nx[t.tensor([0.0])] = 1.0",
    "x = t.zeros(1, 3).expand(2, 3)\nx.add_(1.0)",
    # in-place arithmetic under no_grad, with numbers and tensors
    "w = t.ones(3, requires_grad=True)\n"
    "with t.no_grad():\n"
    "    w -= 0.5 * t.tensor([1.0, 2.0, 3.0])\n"
    "    w *= 2\n"
    "    w /= 4.0\n"
    "    w += 1\n"
    "out = [w, w.requires_grad, w.grad_fn is None]",
    "x = t.tensor([1, 2, 3])\nx += 2\nx *= 3\nx -= 1\nout = x",
    "x = t.tensor([1, 2, 3])\nx /= 2",
    "x = t.tensor([1, 2, 3])\nx += 0.5",
    "x = t.tensor([250], dtype=t.uint8)\nx += 10\nout = x",
    "x = t.tensor([1.0, 2.0])\nx += t.tensor([1, 2])\nout = x",
    "x = t.ones(2, 2)\nx += t.ones(2)\nout = x",
    "x = t.ones(2)\nx += t.ones(2, 2)",
    # a view sees the update, and the version counter stops a stale backward
    "base = t.zeros(2, 2)\nrow = base[1]\nrow += 3\nout = [base, row]",
    "base = t.zeros(2, 2)\ncell = base[1, 0]\ncell += 3\nbase[0, 1] = cell\nout = base",
    "w = t.ones(3, requires_grad=True)\ny = w.exp()\nwith t.no_grad():\n    y.add_(1)\ny.sum().backward()",
    "w = t.ones(3, requires_grad=True)\ny = w.exp()\nwith t.no_grad():\n    y[0] = 5.0\ny.sum().backward()",
    "w = t.ones(3, requires_grad=True)\nw.add_(1)",
    "w = t.ones(3, requires_grad=True)\nw[0] = 2.0",
    # reading by ints and slices without history: views, torch's errors
    "x = t.tensor(2.0)\nout = x[0]",
    "x = t.tensor(2.0)\nout = x[1:]",
    "x = t.tensor(2.0, requires_grad=True)\nout = x[0]",
    "out = t.ones(3)[::-1]",
    "out = t.ones(3, requires_grad=True)[::-1]",
    "out = t.ones(3)[::0]",
    "out = t.ones(3)[5]",
    "out = t.arange(6.0)[1:5:2]",
    "m = t.arange(6.0).view(2, 3)\nrow = m[1]\nrow[0] = -1.0\npart = m[:1]\npart += 10\nout = [m, row, part]",
    "m = t.arange(6.0).view(2, 3)\nout = [r.sum() for r in m] + [m[-1, -2], m[1][2]]",
    "w = t.arange(6.0, requires_grad=True)\nout = w[2]\nout.backward()\nout = [out, w.grad]",
    # tensors from Python lists: the inferred dtypes
    "out = [t.tensor([1, 2]), t.tensor([True, 2]), t.tensor([True, 2.5]), t.tensor([True, False])]",
    "out = [t.tensor([[1, 2], [3, 4.5]]), t.tensor([1e40]), t.tensor([1.5, 2], dtype=t.float64)]",
    "out = t.tensor([[1, 2], [3]])",
    "out = t.tensor([2**63])",
    "out = t.tensor([1, 2.5], dtype=t.int32)",
    # recorded assignments still go through the graph
    "w = t.ones(3, requires_grad=True)\nx = t.zeros(3)\nx[1] = w[0] * 2\nx.sum().backward()\nout = [x, w.grad]",
    "w = t.ones(3, requires_grad=True)\nh = w * 1\nh[0] += 2\nh.sum().backward()\nout = [h, w.grad]",
]


@pytest.mark.parametrize("code", CASES)
def test_inplace_as_torch(code):
    check_code(code)
