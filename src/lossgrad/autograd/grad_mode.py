"""Thread-local gradient mode: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

Each thread starts with recording enabled, as in torch; a ``no_grad`` block in one thread does
not affect another. All three work as context managers and as function decorators.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


class _State(threading.local):
    enabled = True


_state = _State()


def is_grad_enabled() -> bool:
    """Whether operations are recorded for autograd in the current thread."""
    return _state.enabled


class _GradMode:
    """Base of the three context managers: set a mode on enter, restore the previous on exit."""

    _mode: bool

    def __enter__(self) -> None:
        self._prev = _state.enabled
        _state.enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev

    def __call__(self, func: _F) -> _F:
        mode = self._mode

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _state.enabled
            _state.enabled = mode
            try:
                return func(*args, **kwargs)
            finally:
                _state.enabled = prev

        return wrapper  # type: ignore[return-value]


class _NoParamDecorator(_GradMode):
    """Usable as ``@no_grad()`` and as ``@no_grad`` (torch accepts both)."""

    def __new__(cls, orig_func: Callable[..., Any] | None = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamDecorator):
    """Disable recording: results of operations have ``requires_grad=False``."""

    _mode = False


class enable_grad(_NoParamDecorator):
    """Enable recording, e.g. inside a ``no_grad`` block."""

    _mode = True


class set_grad_enabled(_GradMode):
    """Set recording on or off; takes effect at construction, like torch's."""

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._prev = _state.enabled
        _state.enabled = self._mode

    def __enter__(self) -> None:
        pass

    def __call__(self, func: _F) -> _F:  # used as a decorator: undo the constructor's switch
        _state.enabled = self._prev
        return super().__call__(func)

    def clone(self) -> set_grad_enabled:
        return self.__class__(self._mode)


class inference_mode(_GradMode):
    """``no_grad`` for lossgrad (it has no separate inference tensors); ``inference_mode(False)``
    leaves the mode unchanged. Usable with or without parentheses as a decorator."""

    def __new__(cls, mode: Any = True) -> Any:
        if isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)

    def __init__(self, mode: Any = True) -> None:
        self._inference = bool(mode)

    def __enter__(self) -> None:
        self._prev = _state.enabled
        if self._inference:
            _state.enabled = False

    def __call__(self, func: _F) -> _F:
        inference = self._inference

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _state.enabled
            if inference:
                _state.enabled = False
            try:
                return func(*args, **kwargs)
            finally:
                _state.enabled = prev

        return wrapper  # type: ignore[return-value]
