"""lossgrad.utils.data against torch.utils.data: the same batches (exactly, where no randomness
is involved), the same lengths, the same argument errors; random orders are permutations with
the properties torch's have (lossgrad's random stream is not torch's)."""

import collections
import warnings

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.utils import data as lg_data
from parity import check_code

Point = collections.namedtuple("Point", "x y")


def _plain(value):
    """Batches as nested Python values with dtype names, for comparing the two libraries."""
    if isinstance(value, (torch.Tensor, lossgrad.Tensor)):
        return ("tensor", str(value.dtype).replace("torch.", ""), value.tolist())
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return (type(value).__name__, *map(_plain, value))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_plain(v) for v in value])
    if isinstance(value, np.ndarray):
        return ("ndarray", value.tolist())
    return value


SAMPLES = {
    "tensors": lambda t: [t.tensor([1.0, 2.0]) * i for i in range(5)],
    "arrays": lambda t: [np.arange(3, dtype=np.float32) + i for i in range(5)],
    "floats": lambda t: [0.5 * i for i in range(5)],
    "ints": lambda t: list(range(5)),
    "bools": lambda t: [True, False, True, True, False],
    "numpy scalars": lambda t: [np.float32(i) for i in range(5)],
    "strings": lambda t: ["a", "b", "c", "d", "e"],
    "tuples": lambda t: [(t.tensor([float(i)]), i) for i in range(5)],
    "lists": lambda t: [[i, 0.5 * i] for i in range(5)],
    "dicts": lambda t: [{"x": np.ones(2) * i, "y": i, "name": str(i)} for i in range(5)],
    "namedtuples": lambda t: [Point(t.tensor(i), float(i)) for i in range(5)],
    "nested": lambda t: [{"pair": (i, [i, i])} for i in range(5)],
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@pytest.mark.parametrize(
    ("batch_size", "drop_last"), [(None, False), (1, False), (2, False), (2, True)]
)
def test_sequential_batches_equal_torch(kind, batch_size, drop_last):
    batches = []
    for t, data in ((torch, torch.utils.data), (lossgrad, lg_data)):
        loader = data.DataLoader(SAMPLES[kind](t), batch_size=batch_size, drop_last=drop_last)
        batches.append(([_plain(b) for b in loader], len(loader)))
    assert batches[1] == batches[0]


def test_tensor_dataset_subset_concat_as_torch():
    check_code(
        "from importlib import import_module\n"
        "d = import_module(t.__name__ + '.utils.data')\n"
        "x = t.arange(12.0).view(6, 2); y = t.arange(6)\n"
        "ds = d.TensorDataset(x, y)\n"
        "sub = d.Subset(ds, [4, 0, 2])\n"
        "cat = d.ConcatDataset([ds, sub])\n"
        "plus = ds + sub\n"
        "out = [len(ds), ds[1], ds[1:3], len(sub), sub[0], sub[[0, 1]], len(cat), cat[7],\n"
        "       cat[-1], cat.cumulative_sizes, len(plus), plus[6],\n"
        "       [b for b in d.DataLoader(cat, batch_size=4)]]\n"
    )


ERRORS = [
    "d.TensorDataset(t.ones(3), t.ones(4))",
    "d.ConcatDataset([])",
    "d.ConcatDataset([d.TensorDataset(t.ones(3)))[5]",
    "d.ConcatDataset([d.TensorDataset(t.ones(3))])[-4]",
    "d.DataLoader(range(3), num_workers=-1)",
    "d.DataLoader(range(3), timeout=-1)",
    "d.DataLoader(range(3), prefetch_factor=2)",
    "d.DataLoader(range(3), persistent_workers=True)",
    "d.DataLoader(range(3), sampler=[0, 1], shuffle=True)",
    "d.DataLoader(range(3), batch_sampler=[[0, 1]], batch_size=2)",
    "d.DataLoader(range(3), batch_sampler=[[0, 1]], drop_last=True)",
    "d.DataLoader(range(3), batch_size=None, drop_last=True)",
    "d.DataLoader(Stream(), shuffle=True)",
    "d.DataLoader(Stream(), sampler=[0])",
    "d.DataLoader(Stream(), batch_sampler=[[0]])",
    "d.BatchSampler(range(3), 0, False)",
    "d.BatchSampler(range(3), True, False)",
    "d.BatchSampler(range(3), 2, 1)",
    "d.RandomSampler(range(3), replacement=1)",
    "d.RandomSampler(range(3), num_samples=0)",
    "d.WeightedRandomSampler([0.5, 0.5], 0)",
    "d.WeightedRandomSampler([[0.5, 0.5]], 2)",
    "d.WeightedRandomSampler([0.5, 0.5], 2, replacement=1)",
    "d.random_split(range(5), [2, 2])",
    "d.random_split(range(5), [0.5, 0.7])",
    "d.default_collate([np.array(['a', 'b'])])",
    "d.default_collate([object()])",
    "d.default_collate([[1, 2], [3]])",
    "next(iter(d.DataLoader([{1, 2}], batch_size=1)))",
    "d.Dataset()[0]",
]


@pytest.mark.parametrize("call", ERRORS)
def test_argument_errors(call):
    check_code(
        "from importlib import import_module\n"
        "d = import_module(t.__name__ + '.utils.data')\n"
        "class Stream(d.IterableDataset):\n"
        "    def __iter__(self):\n"
        "        return iter(range(5))\n"
        f"out = {call}\n"
    )


def test_iterable_dataset_batches_and_len():
    check_code(
        "from importlib import import_module\n"
        "d = import_module(t.__name__ + '.utils.data')\n"
        "class Stream(d.IterableDataset):\n"
        "    def __iter__(self):\n"
        "        return iter([np.float32(i) for i in range(7)])\n"
        "    def __len__(self):\n"
        "        return 7\n"
        "out = [[b for b in d.DataLoader(Stream(), batch_size=3)],\n"
        "       [b for b in d.DataLoader(Stream(), batch_size=3, drop_last=True)],\n"
        "       [b for b in d.DataLoader(Stream(), batch_size=None)],\n"
        "       len(d.DataLoader(Stream(), batch_size=3)),\n"
        "       len(d.DataLoader(Stream(), batch_size=3, drop_last=True))]\n"
    )


def test_samplers_and_custom_collate_as_torch():
    check_code(
        "from importlib import import_module\n"
        "d = import_module(t.__name__ + '.utils.data')\n"
        "bs = d.BatchSampler(d.SequentialSampler(range(10)), batch_size=3, drop_last=False)\n"
        "bs_drop = d.BatchSampler(range(10), batch_size=3, drop_last=True)\n"
        "loader = d.DataLoader(list(range(10)), batch_sampler=bs, collate_fn=lambda b: sum(b))\n"
        "by_sampler = d.DataLoader(list(range(10)), sampler=[9, 8, 1], batch_size=2)\n"
        "out = [list(bs), len(bs), list(bs_drop), len(bs_drop), list(loader), len(loader),\n"
        "       [b for b in by_sampler], len(by_sampler), list(d.SequentialSampler('abc'))]\n"
    )


def _lg_generator(seed):
    return lossgrad.Generator().manual_seed(seed)


def test_shuffle_is_a_permutation_reproducible_with_a_generator():
    data = list(range(20))
    first = [
        b.tolist() for b in lg_data.DataLoader(data, 4, shuffle=True, generator=_lg_generator(1))
    ]
    again = [
        b.tolist() for b in lg_data.DataLoader(data, 4, shuffle=True, generator=_lg_generator(1))
    ]
    other = [
        b.tolist() for b in lg_data.DataLoader(data, 4, shuffle=True, generator=_lg_generator(2))
    ]
    assert first == again != other
    assert sorted(sum(first, [])) == data and sum(first, []) != data
    lossgrad.manual_seed(5)
    a = list(lg_data.RandomSampler(data))
    lossgrad.manual_seed(5)
    b = list(lg_data.RandomSampler(data))
    assert a == b and sorted(a) == data  # seeded from the default generator, as torch is
    sampler = lg_data.RandomSampler(data, generator=_lg_generator(0))
    assert list(sampler) != list(sampler)  # one generator continues its stream (as torch's)


def test_random_sampler_num_samples_and_replacement():
    for lib, data in ((torch, torch.utils.data), (lossgrad, lg_data)):
        g = lib.Generator().manual_seed(0)
        spans = list(data.RandomSampler(range(5), num_samples=12, generator=g))
        assert len(spans) == 12 and sorted(spans[:5]) == sorted(spans[5:10]) == list(range(5))
        drawn = list(data.RandomSampler(range(5), replacement=True, num_samples=70, generator=g))
        assert len(drawn) == 70 and set(drawn) <= set(range(5))
        sub = list(data.SubsetRandomSampler([10, 20, 30], generator=g))
        assert sorted(sub) == [10, 20, 30]
        weighted = list(data.WeightedRandomSampler([0.0, 1.0, 0.0], 4, generator=g))
        assert weighted == [1, 1, 1, 1]


def test_random_split_lengths_as_torch():
    for fractions in ([0.8, 0.2], [0.34, 0.33, 0.33], [3, 7], [0.5, 0.5]):
        sizes = []
        for lib, data in ((torch, torch.utils.data), (lossgrad, lg_data)):
            parts = data.random_split(
                range(10), fractions, generator=lib.Generator().manual_seed(0)
            )
            sizes.append([len(p) for p in parts])
            assert sorted(sum((list(p) for p in parts), [])) == list(range(10))
        assert sizes[1] == sizes[0]


def test_num_workers_loads_in_process_with_a_warning():
    data = list(range(6))
    with pytest.warns(UserWarning, match="main process"):
        loader = lg_data.DataLoader(data, batch_size=4, num_workers=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5]]
    assert lg_data.get_worker_info() is None


def test_signatures_match_torch():
    import inspect

    for name in (
        "DataLoader",
        "RandomSampler",
        "SequentialSampler",
        "SubsetRandomSampler",
        "BatchSampler",
        "Subset",
        "ConcatDataset",
        "WeightedRandomSampler",
    ):
        ours = list(inspect.signature(getattr(lg_data, name)).parameters)
        theirs = list(inspect.signature(getattr(torch.utils.data, name)).parameters)
        assert ours == theirs, name
