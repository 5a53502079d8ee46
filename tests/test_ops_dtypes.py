"""dtype rules and edge cases of the ops against torch: promotion across bool/int/float and
0-d tensors, integer division by zero, kernels torch lacks for some dtypes, NaN bounds, empty and
keepdim reductions. Each case runs through ``parity.check`` (value, dtype, exception class and,
for float inputs, first and second gradients)."""

import numpy as np
import pytest
import torch

import lossgrad
from parity import check

rng = np.random.default_rng(6)
F32 = rng.standard_normal((2, 3)).astype(np.float32)
F64 = rng.standard_normal((2, 3))
I = rng.integers(-3, 4, (2, 3))  # noqa: E741
I32 = I.astype(np.int32)
B = I > 0
U8 = I.astype(np.uint8)

CASES = {
    "add_alpha_int": (lambda lib, i: lib.add(i, i, alpha=2), [I]),
    "add_alpha_float_on_int": (lambda lib, i: lib.add(i, i, alpha=2.5), [I]),
    "sub_alpha_bool": (lambda lib, b: lib.add(b, b, alpha=2), [B]),
    "mul_bool_bool": (lambda lib, b: b * b, [B]),
    "div_bool_bool": (lambda lib, b: b / b, [B]),
    "floordiv_int_zero": (lambda lib, i: i // 0, [I]),
    "mod_int_zero": (lambda lib, i: i % 0, [I]),
    "float_mod_zero": (lambda lib, f: f % 0.0, [F64]),
    "pow_int_neg": (lambda lib, i: i**-1, [I]),
    "pow_int_tensor": (lambda lib, i: i ** i.abs(), [I]),
    "pow_bool": (lambda lib, b: b**2, [B]),
    "u8_plus_i8": (lambda lib, u, i: u + i.to(lib.int8), [U8, I]),
    "u8_neg": (lambda lib, u: -u, [U8]),
    "i32_plus_float": (lambda lib, i: i + 1.5, [I32]),
    "i32_times_int": (lambda lib, i: i * 3, [I32]),
    "i32_plus_0d_i64": (lambda lib, i, j: i + j, [I32, np.array(5)]),
    "f32_plus_0d_i64": (lambda lib, f, j: f + j, [F32, np.array(5)]),
    "bool_plus_0d_float64": (lambda lib, b, j: b + j, [B, np.array(5.0)]),
    "int_plus_0d_f32": (lambda lib, i, j: i + j, [I, np.array(5.0, np.float32)]),
    "exp_bool": (lambda lib, b: b.exp(), [B]),
    "sqrt_int32": (lambda lib, i: i.abs().sqrt(), [I32]),
    "sigmoid_int": (lambda lib, i: i.sigmoid(), [I]),
    "softplus_int": (lambda lib, i: lib.nn.functional.softplus(i), [I]),
    "logsigmoid_int": (lambda lib, i: lib.nn.functional.logsigmoid(i), [I]),
    "relu_int": (lambda lib, i: lib.relu(i), [I]),
    "relu_bool": (lambda lib, b: lib.relu(b), [B]),
    "clamp_bool": (lambda lib, b: b.clamp(0, 1), [B]),
    "clamp_int_neg": (lambda lib, i: i.clamp(min=-1), [I]),
    "clamp_tensor_int": (lambda lib, i, f: i.clamp(min=f), [I, F32]),
    "maximum_bool_int": (lambda lib, b, i: lib.maximum(b, i), [B, I]),
    "maximum_int_scalar": (lambda lib, i: lib.maximum(i, 2), [I]),
    "where_scalar_scalar": (lambda lib, b: lib.where(b, 1.0, 0), [B]),
    "where_int_int": (lambda lib, b: lib.where(b, 1, 0), [B]),
    "where_bool_float32": (lambda lib, b, f: lib.where(b, f, 2.5), [B, F32]),
    "where_f32_0d_f64": (lambda lib, b, f, d: lib.where(b, f, d), [B, F32, np.array(2.0)]),
    "mean_dim_int": (lambda lib, i: i.mean(0), [I]),
    "sum_u8": (lambda lib, u: u.sum(), [U8]),
    "prod_bool": (lambda lib, b: b.prod(), [B]),
    "amax_bool": (lambda lib, b: b.amax(0), [B]),
    "max_bool_dim": (lambda lib, b: b.max(0), [B]),
    "min_int": (lambda lib, i: i.min(), [I]),
    "cumsum_bool": (lambda lib, b: b.cumsum(0), [B]),
    "std_int": (lambda lib, i: i.std(), [I]),
    "norm_int": (lambda lib, i: i.norm(), [I]),
    "logsumexp_int": (lambda lib, i: i.logsumexp(0), [I]),
    "logsumexp_bool": (lambda lib, b: b.logsumexp(0), [B]),
    "softmax_f32_dtype64": (lambda lib, f: f.softmax(0, dtype=lib.float64), [F32]),
    "matmul_int32": (lambda lib, i: i @ i.T, [I32]),
    "matmul_bool": (lambda lib, b: b @ b.T, [B]),
    "eq_f32_f64": (lambda lib, f, d: f == d, [F32, F64]),
    "eq_scalar_bool": (lambda lib, b: b == 1, [B]),
    "lt_bool_float": (lambda lib, b: b < 0.5, [B]),
    "isclose_int": (lambda lib, i: lib.isclose(i, i), [I]),
    "sign_u8": (lambda lib, u: u.sign(), [U8]),
    "abs_bool": (lambda lib, b: b.abs(), [B]),
    "neg_bool": (lambda lib, b: -b, [B]),
    "round_decimals_int": (lambda lib, i: i.round(decimals=1), [I]),
    "reciprocal_int": (lambda lib, i: i.reciprocal(), [I]),
    "square_int": (lambda lib, i: i.square(), [I]),
    "square_bool": (lambda lib, b: b.square(), [B]),
    "rsub_int_float": (lambda lib, i: 1.5 - i, [I]),
    "rdiv_int": (lambda lib, i: 3 / (i + 10), [I]),
    "rfloordiv": (lambda lib, i: 7 // (i + 10), [I]),
    "rpow_float_int": (lambda lib, i: 2.5**i, [I]),
    "rpow_int_f32": (lambda lib, f: 2**f, [F32]),
    "div_trunc_f32_by_int": (lambda lib, f: lib.div(f, 2, rounding_mode="trunc"), [F32]),
    "div_bad_mode": (lambda lib, f: lib.div(f, 2, rounding_mode="x"), [F32]),
    "fmax_nan": (lambda lib, f: lib.fmax(f, lib.tensor(float("nan"))), [F32]),
    "clamp_nan_bound": (lambda lib, f: f.clamp(min=float("nan")), [F32]),
    "clamp_min_gt_max_tensor": (lambda lib, f, g: f.clamp(min=g + 5, max=g), [F64, F64]),
    "topk_int": (lambda lib, i: i.topk(2)[0], [I]),
    "argsort_bool": (lambda lib, b: b.argsort(stable=True), [B]),
    "gather_bool": (lambda lib, b: b.gather(1, lib.tensor([[0], [1]])), [B]),
    "masked_fill_bool": (lambda lib, b: b.masked_fill(b, 5), [B]),
    "masked_fill_int_float": (lambda lib, i, b: i.masked_fill(b, 2.5), [I, B]),
    "getitem_bool_int": (lambda lib, i, b: i[b], [I, B]),
    "var_correction_float": (lambda lib, f: f.var(1, correction=0.5), [F64]),
    "norm_p0": (lambda lib, f: f.norm(p=0), [F64]),
    "norm_neg_p": (lambda lib, f: f.norm(p=-1.5, dim=1), [F64]),
    "norm_half": (lambda lib, f: f.norm(p=0.5, dim=1), [F64]),
    "norm_keepdim_all": (lambda lib, f: f.norm(dim=None, keepdim=True), [F64]),
    "norm_dtype": (lambda lib, f: f.norm(dtype=lib.float64), [F32]),
    "norm_fro_2dims": (lambda lib, f: f.norm(p="fro", dim=(0, 1)), [F64]),
    "mean_empty_dim": (lambda lib, f: f[:, :0].mean(1), [F64]),
    "sum_keepdim_none": (lambda lib, f: f.sum(dim=None, keepdim=True), [F64]),
    "amax_keepdim_all": (lambda lib, f: f.amax(keepdim=True), [F64]),
    "logsumexp_keepdim_tuple": (lambda lib, f: f.logsumexp((0, 1), keepdim=True), [F64]),
    "std_all_keepdim": (lambda lib, f: f.std(dim=None, keepdim=True), [F64]),
    "var_empty": (lambda lib, f: f[:0].var(), [F64]),
    "prod_keepdim": (lambda lib, f: f.prod(1, keepdim=True), [F64]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_dtype_case(name):
    fn, args = CASES[name]
    check(fn, args, grad=tuple(k for k, a in enumerate(args) if a.dtype.kind == "f"))


def test_floor_divide_has_no_derivative():
    for lib in (lossgrad, torch):
        x = lib.tensor([1.5, -2.5], requires_grad=True)
        y = x // 2
        assert y.requires_grad and "NotImplemented" in repr(y.grad_fn)
        with pytest.raises(RuntimeError, match="aten::floor_divide is not implemented"):
            y.sum().backward()
