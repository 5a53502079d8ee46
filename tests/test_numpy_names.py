"""torch accepts NumPy's ``axis=`` and ``keepdims=`` for ``dim=`` and ``keepdim=`` on the
functions of its argument parser (torch.* and Tensor methods), not on Python-level ones such as
``F.softmax`` or ``Tensor.norm``: lossgrad accepts and refuses the same calls."""

import pytest

from parity import check_code

CALLS = [
    "t.sum(x, axis=0, keepdims=True)",
    "x.sum(axis=1)",
    "x.mean(axis=0, keepdims=True)",
    "x.max(axis=0)[0]",
    "x.max(axis=0).indices",
    "x.argmax(axis=1, keepdims=True)",
    "t.softmax(x, axis=0)",
    "x.softmax(axis=0)",
    "x.log_softmax(axis=1)",
    "t.nn.functional.softmax(x, axis=0)",
    "t.cat([x, x], axis=0)",
    "t.stack([x, x], axis=1)",
    "x.unsqueeze(axis=0)",
    "x[:1].squeeze(axis=0)",
    "x.std(axis=0)",
    "x.var(axis=0, keepdims=True)",
    "x.any(axis=0)",
    "x.all(axis=0)",
    "x.cumsum(axis=0)",
    "x.logsumexp(axis=0)",
    "x.amax(axis=0)",
    "t.amin(x, axis=1, keepdims=True)",
    "x.gather(axis=0, index=t.zeros(1, 3, dtype=t.long))",
    "x.sort(axis=0)[0]",
    "x.topk(1, axis=0)[1]",
    "x.chunk(2, axis=1)[0]",
    "x.unbind(axis=0)[1]",
    "x.index_select(axis=0, index=t.tensor([1]))",
    "x.narrow(axis=0, start=0, length=1)",
    "x.size(axis=0)",
    "x.prod(axis=0)",
    "x.count_nonzero(axis=0)",
    "x.nansum(axis=0)",
    "t.count_nonzero(x, axis=0)",
    "x.min(axis=0, keepdims=True)[0]",
    "x.argsort(axis=0)",
    "t.argmax(x, axis=0)",
    "x.sum(dim=0, keepdims=True)",
    "t.max(x, axis=0, keepdims=True)[1]",
    "x.mean(axis=(0, 1))",
    "x.norm(axis=0)",
    "x.split(1, axis=0)[0]",
    "x.flip(axis=0)",
    "x.sum(axis=0, dim=0)",
]


@pytest.mark.parametrize("call", CALLS)
def test_numpy_keyword_names_as_torch(call):
    check_code(f"x = t.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])\nout = {call}", message=False)
