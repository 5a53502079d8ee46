"""Grad modes: no_grad, enable_grad, set_grad_enabled, inference_mode; thread-locality."""

from __future__ import annotations

import threading

import pytest

import lossgrad
from parity import check_code

SNIPPETS = [
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
with t.no_grad():
    y = x * 2
out = (y.requires_grad, y.grad_fn is None, t.is_grad_enabled())
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
with t.no_grad():
    with t.enable_grad():
        y = x * 2
out = y
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
@t.no_grad()
def f(a): return a * 2
out = (f(x), t.is_grad_enabled())
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
@t.no_grad
def f(a): return a * 2
out = (f(x), t.is_grad_enabled())
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
with t.set_grad_enabled(False):
    y = x * 2
out = (y, t.is_grad_enabled())
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
t.set_grad_enabled(False)
y = x * 2
t.set_grad_enabled(True)
out = (y, t.is_grad_enabled())
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
@t.set_grad_enabled(False)
def f(a): return a * 2
out = (f(x), t.is_grad_enabled())
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
@t.enable_grad()
def f(a): return a * 2
with t.no_grad():
    y = f(x)
out = y
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
with t.inference_mode():
    y = x * 2
out = y
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
with t.no_grad():
    x.add_(1)
out = x
""",
    """\
import threading
res = []
def worker():
    res.append(t.is_grad_enabled())
with t.no_grad():
    th = threading.Thread(target=worker); th.start(); th.join()
out = (res, t.is_grad_enabled())
""",
    """\
import threading
res = []
def worker():
    with t.no_grad():
        res.append(t.is_grad_enabled())
        import time; time.sleep(0.05)
th = threading.Thread(target=worker); th.start()
import time; time.sleep(0.01)
x = t.tensor([1.], requires_grad=True)
y = x * 2
th.join()
out = (res, y.requires_grad)
""",
]


@pytest.mark.parametrize("src", SNIPPETS)
def test_grad_mode_matches_torch(src: str) -> None:
    check_code(src)


def test_no_grad_in_a_thread_does_not_leak() -> None:
    inside, release = threading.Event(), threading.Event()
    seen = []

    def worker() -> None:
        with lossgrad.no_grad():
            seen.append(lossgrad.is_grad_enabled())
            inside.set()
            release.wait(5)

    th = threading.Thread(target=worker)
    th.start()
    inside.wait(5)
    try:
        x = lossgrad.ones(2, requires_grad=True)
        y = x * 2  # recorded here while the worker sits inside no_grad
        assert lossgrad.is_grad_enabled() and y.requires_grad and y.grad_fn is not None
    finally:
        release.set()
        th.join()
    assert seen == [False]


def test_new_threads_start_enabled_even_under_no_grad() -> None:
    seen = []
    with lossgrad.no_grad():
        th = threading.Thread(target=lambda: seen.append(lossgrad.is_grad_enabled()))
        th.start()
        th.join()
    assert seen == [True]


def test_modes_restore_after_exceptions() -> None:
    with pytest.raises(ValueError):
        with lossgrad.no_grad():
            raise ValueError
    assert lossgrad.is_grad_enabled()

    @lossgrad.no_grad()
    def fails() -> None:
        raise KeyError

    with pytest.raises(KeyError):
        fails()
    assert lossgrad.is_grad_enabled()
    with lossgrad.no_grad():
        with pytest.raises(ValueError):
            with lossgrad.enable_grad():
                raise ValueError
        assert not lossgrad.is_grad_enabled()


def test_decorators_keep_metadata_and_nest() -> None:
    @lossgrad.no_grad()
    def f(a: lossgrad.Tensor) -> lossgrad.Tensor:
        """Doc."""
        return a * 2

    @lossgrad.enable_grad()
    def g(a: lossgrad.Tensor) -> lossgrad.Tensor:
        return a * 2

    assert f.__name__ == "f" and f.__doc__ == "Doc."
    x = lossgrad.ones(2, requires_grad=True)
    assert not f(x).requires_grad
    with lossgrad.no_grad():
        assert g(x).requires_grad
    assert lossgrad.is_grad_enabled()


def test_set_grad_enabled_forms() -> None:
    with lossgrad.set_grad_enabled(False):
        assert not lossgrad.is_grad_enabled()
        with lossgrad.set_grad_enabled(True):
            assert lossgrad.is_grad_enabled()
        assert not lossgrad.is_grad_enabled()
    assert lossgrad.is_grad_enabled()
    lossgrad.set_grad_enabled(False)
    try:
        assert not lossgrad.is_grad_enabled()
    finally:
        lossgrad.set_grad_enabled(True)
    assert lossgrad.autograd.set_grad_enabled is lossgrad.set_grad_enabled


def test_inference_mode_forms() -> None:
    x = lossgrad.ones(2, requires_grad=True)
    with lossgrad.inference_mode(False):
        assert (x * 2).requires_grad
    with lossgrad.inference_mode():
        assert not (x * 2).requires_grad

    @lossgrad.inference_mode
    def f(a: lossgrad.Tensor) -> lossgrad.Tensor:
        return a * 2

    assert not f(x).requires_grad and lossgrad.is_grad_enabled()


def test_backward_inside_no_grad_still_computes_gradients() -> None:
    check_code("""\
x = t.tensor([1., 2.], requires_grad=True)
y = (x * x).sum()
with t.no_grad():
    y.backward()
out = x.grad
""")
