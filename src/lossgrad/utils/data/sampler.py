"""Sampler: the base of the classes that choose the order of a dataset's indices."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

_T_co = TypeVar("_T_co", covariant=True)


class Sampler(Generic[_T_co]):
    """Base class of samplers (torch.utils.data.Sampler): ``__iter__`` yields indices."""

    def __init__(self, data_source: Any = None) -> None:
        pass

    def __iter__(self) -> Iterator[_T_co]:
        raise NotImplementedError
