"""DataLoader: batches of samples from a dataset, in the order of a sampler, and the default
ways samples become batches (``default_collate``) or stay single (``default_convert``).

Loading runs in the calling process. ``num_workers > 0`` is accepted, so that scripts written
for torch run unchanged, and loads in the same process too, with a warning that says so: the
batches are the same as torch's, the work is not spread over processes (``worker_init_fn`` is
not called, ``get_worker_info()`` is None).

Example:
    >>> import lossgrad as torch
    >>> from lossgrad.utils.data import DataLoader
    >>> samples = [{"x": torch.tensor([1.0, 2.0]), "y": 0}, {"x": torch.tensor([3.0, 4.0]), "y": 1}]
    >>> next(iter(DataLoader(samples, batch_size=2)))
    {'x': tensor([[1., 2.],
            [3., 4.]]), 'y': tensor([0, 1])}
"""

from __future__ import annotations

import collections.abc
import copy
import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.utils.data.dataset import Dataset, IterableDataset
from lossgrad.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

_STRING_OR_OBJECT = re.compile(r"[SaUO]")  # NumPy dtypes that do not become tensors
_COLLATE_ERROR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def get_worker_info() -> None:
    """None: lossgrad loads in the main process."""
    return None


def default_convert(data: Any) -> Any:
    """NumPy arrays and scalars inside ``data`` become tensors; the rest is kept (containers are
    rebuilt around their converted items). What a DataLoader without batching applies."""
    from lossgrad._factories import as_tensor

    if isinstance(data, Tensor):
        return data
    data_type = type(data)
    if data_type.__module__ == "numpy" and data_type.__name__ not in ("str_", "string_"):
        if isinstance(data, np.ndarray) and _STRING_OR_OBJECT.search(data.dtype.str):
            return data
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return data_type(*(default_convert(item) for item in data))
    if isinstance(data, tuple):
        return [default_convert(item) for item in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(item) for item in data])
    return data


def default_collate(batch: list[Any]) -> Any:
    """Merge a list of samples into a batch, recursively by the type of the first sample.

    Tensors are stacked along a new first dimension; NumPy arrays likewise, as tensors; Python
    floats become a float64 tensor, ints an int64 tensor, NumPy scalars a tensor of their dtype;
    strings stay a list; a mapping collates each key; a namedtuple each field; a tuple or list of
    equal-length samples becomes a list of collated positions (torch returns a list for tuples).
    """
    from lossgrad._factories import as_tensor, tensor
    from lossgrad.ops.shape import stack

    elem = batch[0]
    elem_type = type(elem)
    if isinstance(elem, Tensor):
        return stack(batch, 0)
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_"):
        if isinstance(elem, np.ndarray):
            if _STRING_OR_OBJECT.search(elem.dtype.str):
                raise TypeError(_COLLATE_ERROR.format(elem.dtype))
            return default_collate([as_tensor(sample) for sample in batch])
        if elem.shape == ():  # NumPy scalars
            return as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=np.float64)
    if isinstance(elem, int):
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    return _collate_container(elem, batch)


def _collate_container(elem: Any, batch: list[Any]) -> Any:
    """``default_collate`` of mappings, namedtuples and sequences: each key, field or position
    collated across the batch."""
    elem_type = type(elem)
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(
            elem, {key: default_collate([d[key] for d in batch]) for key in elem}
        )
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        positions = [default_collate(list(samples)) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return positions
        return _rebuild_sequence(elem, positions)
    raise TypeError(_COLLATE_ERROR.format(elem_type))


def _rebuild_mapping(like: collections.abc.Mapping, items: dict[Any, Any]) -> Any:
    """A mapping of ``like``'s type holding ``items`` (a plain dict if the type refuses)."""
    try:
        if isinstance(like, collections.abc.MutableMapping):
            clone = copy.copy(like)
            clone.update(items)
            return clone
        return type(like)(items)  # type: ignore[call-arg]
    except TypeError:
        return items


def _rebuild_sequence(like: collections.abc.Sequence, items: list[Any]) -> Any:
    """A sequence of ``like``'s type holding ``items`` (a plain list if the type refuses)."""
    try:
        if isinstance(like, collections.abc.MutableSequence):
            clone = copy.copy(like)
            for i, item in enumerate(items):
                clone[i] = item
            return clone
        return type(like)(items)  # type: ignore[call-arg]
    except TypeError:
        return items


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Map-style datasets are read in the order of ``sampler`` (sequential, or random with
    ``shuffle=True`` and an optional ``generator``), grouped by ``batch_size`` (the last batch
    shorter unless ``drop_last``), or in the groups a ``batch_sampler`` yields; each group is
    merged by ``collate_fn`` (``default_collate``). ``batch_size=None`` turns batching off:
    samples come one by one through ``default_convert``. An ``IterableDataset`` is batched in the
    order it yields. The argument checks and their messages are torch's.
    """

    def __init__(
        self,
        dataset: Dataset[Any],
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler[Any] | Iterable[Any] | None = None,
        batch_sampler: Sampler[list[Any]] | Iterable[list[Any]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers)
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            _check_iterable_options(shuffle, sampler, batch_sampler)
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        batch_size, drop_last = _check_batching(
            batch_size, shuffle, sampler, batch_sampler, drop_last
        )
        if sampler is None and not self._iterable:
            sampler = (
                RandomSampler(dataset, generator=generator)  # type: ignore[arg-type]
                if shuffle
                else SequentialSampler(dataset)  # type: ignore[arg-type]
            )
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)  # type: ignore[arg-type]
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.generator = generator
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._auto_collation = batch_sampler is not None or (self._iterable and batch_size)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    def __iter__(self) -> Iterator[Any]:
        if self._iterable:
            return self._iterate_stream()
        return self._iterate_map()

    def _iterate_map(self) -> Iterator[Any]:
        dataset, collate = self.dataset, self.collate_fn
        if self.batch_sampler is None:
            for index in self.sampler:  # type: ignore[union-attr]
                yield collate(dataset[index])
            return
        getitems = getattr(dataset, "__getitems__", None)
        for indices in self.batch_sampler:
            samples = getitems(indices) if getitems else [dataset[i] for i in indices]
            yield collate(samples)

    def _iterate_stream(self) -> Iterator[Any]:
        stream = iter(self.dataset)  # type: ignore[call-overload]
        if not self._auto_collation:
            for sample in stream:
                yield self.collate_fn(sample)
            return
        while True:
            batch = [sample for _, sample in zip(range(self.batch_size), stream)]  # type: ignore[arg-type]
            if not batch or (self.drop_last and len(batch) < self.batch_size):  # type: ignore[operator]
                return
            yield self.collate_fn(batch)

    def __len__(self) -> int:
        if self._iterable:
            length = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is not None:
                length = length / self.batch_size
                length = math.floor(length) if self.drop_last else math.ceil(length)
            return int(length)
        sampler = self.batch_sampler if self.batch_sampler is not None else self.sampler
        return len(sampler)  # type: ignore[arg-type]


def _check_worker_options(
    num_workers: int, timeout: float, prefetch_factor: int | None, persistent_workers: bool
) -> None:
    """torch's checks of the worker options; with workers asked for, the warning that lossgrad
    loads in the main process."""
    if num_workers < 0:
        raise ValueError(
            "num_workers option should be non-negative; "
            "use num_workers=0 to disable multiprocessing."
        )
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError(
            "prefetch_factor option could only be specified in multiprocessing."
            "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor "
            "to None."
        )
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")
    if num_workers > 0:
        warnings.warn(
            f"lossgrad's DataLoader loads in the main process: num_workers={num_workers} "
            "gives the same batches as num_workers=0, without worker processes.",
            UserWarning,
            stacklevel=3,
        )


def _check_iterable_options(shuffle: bool | None, sampler: Any, batch_sampler: Any) -> None:
    """torch's refusals of shuffle, sampler and batch_sampler for an IterableDataset."""
    if shuffle not in {False, None}:
        raise ValueError(
            "DataLoader with IterableDataset: expected unspecified shuffle option, "
            f"but got shuffle={shuffle}"
        )
    if sampler is not None:
        raise ValueError(
            "DataLoader with IterableDataset: expected unspecified sampler option, "
            f"but got sampler={sampler}"
        )
    if batch_sampler is not None:
        raise ValueError(
            "DataLoader with IterableDataset: expected unspecified batch_sampler "
            f"option, but got batch_sampler={batch_sampler}"
        )


def _check_batching(
    batch_size: int | None, shuffle: bool, sampler: Any, batch_sampler: Any, drop_last: bool
) -> tuple[int | None, bool]:
    """torch's exclusions between batch_sampler and the other batching options; the batch size
    and drop_last in force (a batch_sampler sets them to None and False)."""
    if batch_sampler is not None:
        if batch_size != 1 or shuffle or sampler is not None or drop_last:
            raise ValueError(
                "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                "sampler, and drop_last"
            )
        return None, False
    if batch_size is None and drop_last:
        raise ValueError(
            "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
        )
    return batch_size, drop_last
