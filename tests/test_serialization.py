"""torch.save / torch.load: round trips of tensors, parameters, state_dicts and containers, and
torch's weights_only rules (the same objects accepted and refused, the same exception)."""

import collections
import io
import pickle

import numpy as np
import pytest
import torch

import lossgrad


class Custom:
    def __init__(self, value=1):
        self.value = value


def _round_trip(lib, obj, **load_args):
    buffer = io.BytesIO()
    lib.save(obj, buffer)
    buffer.seek(0)
    return lib.load(buffer, **load_args)


OBJECTS = {
    "tensor": lambda t: t.arange(6.0).view(2, 3),
    "int tensor": lambda t: t.tensor([1, 2, 3]),
    "bool tensor": lambda t: t.tensor([True, False]),
    "float64 scalar": lambda t: t.tensor(2.5, dtype=t.float64),
    "requires grad": lambda t: t.ones(2, requires_grad=True),
    "parameter": lambda t: t.nn.Parameter(t.ones(3)),
    "nested": lambda t: {"a": [t.ones(2), (1, "x", None)], "b": {"c": 2.5, "d": b"raw"}},
    "ordered": lambda t: collections.OrderedDict(w=t.zeros(2), step=7),
    "size dtype device": lambda t: [t.Size([2, 3]), t.float32, t.int64, t.device("cpu")],
    "set complex": lambda t: [{1, 2}, frozenset({3}), 1 + 2j, 2**70, float("inf")],
    "custom": lambda t: {"obj": Custom()},
    "numpy": lambda t: {"arr": np.ones(2)},
    "range": lambda t: range(3),
}


def _describe(value):
    if isinstance(value, (torch.Tensor, lossgrad.Tensor)):
        return (
            type(value).__name__,
            str(value.dtype).replace("torch.", ""),
            value.detach().tolist(),
            value.requires_grad,
        )
    if isinstance(value, dict):
        return (type(value).__name__, {k: _describe(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)) and not hasattr(value, "numel"):
        return (type(value).__name__, [_describe(v) for v in value])
    if isinstance(value, (torch.dtype, lossgrad.dtype, torch.device, lossgrad.device)):
        return repr(value)
    if isinstance(value, (torch.Size, lossgrad.Size)):
        return ("Size", list(value))
    if isinstance(value, Custom):
        return ("Custom", value.value)
    return repr(value) if isinstance(value, np.ndarray) else value


@pytest.mark.parametrize("name", sorted(OBJECTS))
@pytest.mark.parametrize("weights_only", [None, True, False])
def test_round_trip_and_weights_only_as_torch(name, weights_only):
    results = []
    for lib in (torch, lossgrad):
        try:
            loaded = _round_trip(lib, OBJECTS[name](lib), weights_only=weights_only)
            results.append(("ok", _describe(loaded)))
        except Exception as error:  # noqa: BLE001 - the class and message are compared
            message = str(error).split("WeightsUnpickler error: ")[-1].split(" was not")[0]
            results.append((type(error).__name__, message.replace("torch", "lib")))
    lossgrad_result = results[1]
    if lossgrad_result[0] == "UnpicklingError":  # the global's module differs (lossgrad vs torch)
        assert results[0][0] == "UnpicklingError"
    else:
        assert lossgrad_result == results[0]


def test_weights_only_message_is_torchs():
    for lib in (torch, lossgrad):
        with pytest.raises(pickle.UnpicklingError, match="Weights only load failed") as info:
            _round_trip(lib, {"obj": Custom()})
        assert "Unsupported global: GLOBAL test_serialization.Custom was not an allowed" in str(
            info.value
        )


def test_safe_globals_allow_a_class():
    with lossgrad.serialization.safe_globals([Custom]):
        loaded = _round_trip(lossgrad, Custom(5))
    assert isinstance(loaded, Custom) and loaded.value == 5
    with pytest.raises(pickle.UnpicklingError):
        _round_trip(lossgrad, Custom(5))


def test_shared_tensor_loads_once_and_path_files(tmp_path):
    weight = lossgrad.ones(3)
    path = tmp_path / "ckpt.pt"
    lossgrad.save({"a": weight, "b": weight}, path)
    loaded = lossgrad.load(str(path), map_location="cpu")
    assert loaded["a"] is loaded["b"]
    loaded["a"].add_(1)
    assert weight.tolist() == [1.0, 1.0, 1.0]  # a copy of the saved data, not a view of it


def test_torch_files_are_refused_with_a_clear_error():
    buffer = io.BytesIO()
    torch.save(torch.ones(2), buffer)
    buffer.seek(0)
    with pytest.raises(RuntimeError, match="written by lossgrad.save"):
        lossgrad.load(buffer)


def _model(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.Linear(4, 2))


def test_state_dict_round_trip_and_strict_as_torch(tmp_path):
    for lib in (torch, lossgrad):
        source, target = _model(lib), _model(lib)
        with lib.no_grad():
            for p in source.parameters():
                p.add_(1.0)
        path = tmp_path / f"{lib.__name__}.pt"
        lib.save(source.state_dict(), path)
        state = lib.load(path)
        result = target.load_state_dict(state)
        assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
        for p, q in zip(source.parameters(), target.parameters()):
            assert p.tolist() == q.tolist()
        state["extra"] = lib.ones(1)
        del state["0.bias"]
        with pytest.raises(RuntimeError, match="Unexpected key"):
            target.load_state_dict(state)
        relaxed = target.load_state_dict(state, strict=False)
        assert relaxed.missing_keys == ["0.bias"] and relaxed.unexpected_keys == ["extra"]
