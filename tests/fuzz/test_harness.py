"""The fuzzer's tolerance for rounding noise (``harness.Rounding``) on cases worked by hand:
it excuses noise of torch's own size and nothing larger."""

from __future__ import annotations

import math

import numpy as np

from .cases import Arr, Case
from .deviations import explain
from .harness import (
    NOISE_FACTOR,
    RELATIVE,
    SECOND_ORDER,
    SPREAD_CAP,
    _cosine_gradient_terms,
    _cosine_second_gradient_terms,
    _mismatch,
    _term_scale,
    check_case,
    exact_value,
    torch_terms,
)


def _cosine_of_one_feature() -> Case:
    # D = 1: the cosine is sign(x1 x2) up to torch's 1e-12 epsilon, so its derivatives are ~0 in
    # exact arithmetic and both libraries return rounding noise of terms of size 1 / x^2
    x1 = Arr(np.array([[2.5198], [0.4698]], np.float32), grad=True)
    x2 = Arr(np.array([[3.5756], [0.6924]], np.float32), grad=True)
    y = Arr(np.array([-1.0, 1.0], np.float32))
    return Case("cosine_embedding_loss", [x1, x2, y], {"reduction": "none"}, np.float32)


def test_second_gradient_of_a_one_feature_cosine_is_torchs_rounding_noise():
    case = _cosine_of_one_feature()
    result = check_case(case)
    assert not result.failures
    truth, noise = result.rounding.measure()
    exact = np.abs(truth["second grad 0"]).max()
    assert exact < 1e-10 < noise["second grad 0"]  # torch's own float32 error dwarfs the value


def test_an_error_beyond_torchs_noise_is_not_excused():
    case = _cosine_of_one_feature()
    rounding = check_case(case).rounding
    truth, noise = rounding.measure()
    theirs = truth["second grad 0"].astype(np.float32)
    wrong = theirs + np.float32(10 * NOISE_FACTOR * noise["second grad 0"])
    rel = SECOND_ORDER[np.dtype(np.float32)]
    assert not rounding.explains("second grad 0", wrong, theirs, rel, 0.0)


def test_a_wrong_subgradient_at_a_kink_is_not_excused():
    # x == y in the first entry: torch's l1 gradient there is sgn(0) = 0; moving the inputs by
    # one rounding crosses the kink, so the noise is measured at the moved inputs themselves
    x = Arr(np.array([1.0, 2.0], np.float32), grad=True)
    y = Arr(np.array([1.0, 0.5], np.float32))
    case = Case("l1_loss", [x, y], {"reduction": "sum"}, np.float32)
    rounding = check_case(case).rounding
    truth, _ = rounding.measure()
    theirs = truth["grad 0"].astype(np.float32)
    wrong = theirs + np.array([rounding.grad_output.item(), 0.0], np.float32)
    assert not rounding.explains("grad 0", wrong, theirs, 4 * 2e-5, 1.0)


def _cosine_of_one_feature_beyond_float32_squares() -> Case:
    # float64 inputs whose squares overflow float32: the float32 run measures nothing, the
    # second gradients are again rounding noise of terms of size 1 / x^2
    x1 = Arr(np.array([[2.5198e30], [-4.698e25]]), grad=True)
    x2 = Arr(np.array([[3.5756e29], [6.924e27]]), grad=True)
    y = Arr(np.array([-1.0, 1.0]))
    return Case("cosine_embedding_loss", [x1, x2, y], {"reduction": "none"}, np.float64)


def test_float64_noise_the_float32_run_cannot_measure_is_measured_by_moving_the_inputs():
    rounding = check_case(_cosine_of_one_feature_beyond_float32_squares()).rounding
    truth, noise = rounding.measure()
    assert noise["second grad 0"] > 0.0
    theirs = truth["second grad 0"]
    wrong = theirs + 10 * NOISE_FACTOR * noise["second grad 0"]
    rel = SECOND_ORDER[np.dtype(np.float64)]
    assert rounding.explains("second grad 0", theirs, theirs, rel, 0.0)
    assert not rounding.explains("second grad 0", wrong, theirs, rel, 0.0)


def _cosine_of_one_feature_partly_beyond_float32_squares() -> Case:
    # seed 60067: one row beyond float32's squares (1e38), one whose gradients are exactly 0 in
    # both precisions: the float32 run measures that row only (no noise), which capped the
    # float64 spread of the whole array at 0, where it must cap only the rows it measured
    x1 = Arr(np.array([[1e38], [0.5]]), grad=True)
    x2 = Arr(np.array([[-0.18075736588], [4.94065645841e-324]]), grad=True)
    y = Arr(np.array([1.0, -1.0]))
    return Case("cosine_embedding_loss", [x1, x2, y], {"margin": 0.5}, np.float64)


def test_the_float32_measure_caps_the_float64_spread_only_where_it_measured():
    case = _cosine_of_one_feature_partly_beyond_float32_squares()
    result = check_case(case)
    assert not result.failures
    truth, noise = result.rounding.measure()
    assert noise["second grad 1"] > 0.0
    theirs = truth["second grad 1"]
    wrong = theirs + 10 * NOISE_FACTOR * noise["second grad 1"]
    rel = SECOND_ORDER[np.dtype(np.float64)]
    assert not result.rounding.explains("second grad 1", wrong, theirs, rel, 0.0)


def _float64_cosine_of_one_feature() -> Case:
    # moderate float64 values (seed 5006): torch's float64 sqrt of m1 m2 is one ulp off the
    # correctly rounded one, and the cancellation of terms of size 1 / x^2 makes that a 1e-3
    # relative difference in second gradients of size 1e-12
    x1 = Arr(np.array([-0.9073572103848371]), grad=True)
    x2 = Arr(np.array([-0.2784358695334804]), grad=True)
    y = Arr(np.array(-1.0))
    return Case("cosine_embedding_loss", [x1, x2, y], {"reduction": "none"}, np.float64)


def test_float64_noise_is_the_spread_over_moved_inputs_up_to_a_cap():
    case = _float64_cosine_of_one_feature()
    result = check_case(case)
    assert not result.failures
    truth, noise = result.rounding.measure()
    theirs = truth["second grad 0"]
    wrong = theirs + 10 * NOISE_FACTOR * SPREAD_CAP * noise["second grad 0"]
    rel = SECOND_ORDER[np.dtype(np.float64)]
    assert not result.rounding.explains("second grad 0", wrong, theirs, rel, 0.0)


def test_a_wrong_float64_subgradient_at_a_kink_is_not_excused():
    # float64 inputs moved by one float64 rounding cross the kink at x == y: their spread is
    # the jump of the subgradient, which the float32 run (no noise at the kink) caps at 0
    x = Arr(np.array([1.0, 2.0]), grad=True)
    y = Arr(np.array([1.0, 0.5]))
    case = Case("l1_loss", [x, y], {"reduction": "sum"}, np.float64)
    rounding = check_case(case).rounding
    truth, _ = rounding.measure()
    theirs = truth["grad 0"]
    wrong = theirs + np.array([rounding.grad_output.item(), 0.0])
    assert not rounding.explains("grad 0", wrong, theirs, 4 * RELATIVE[np.dtype(np.float64)], 1.0)


def _float64_triplet_of_cancelling_distances() -> Case:
    # seed 11082's kind: two distances of 1e8 that differ by 0.2 cancel to a loss of 0.09; one
    # rounding of a distance's sum of squares (torch adds them in another order than NumPy)
    # is 1.5e-8 in the loss, while in float32 both distances round to one value, so the
    # float32 run measures no cancellation at all
    anchor = Arr(np.array([-1.3036, 1e8, 3.3274, 1e-45]), grad=True)
    positive = Arr(np.array([2.0, 3.15, 0.6092, 1.02, -2.99, 1.7e308, -3.83, 2.2]), "step", True)
    negative = Arr(np.array([1.0, 0.3143, -2.9685, 1.9704]), "transpose", True)
    kwargs = {"margin": 0.3, "swap": False, "reduction": "mean"}
    return Case(
        "triplet_margin_with_distance_loss", [anchor, positive, negative], kwargs, np.float64
    )


def test_float64_value_noise_the_float32_run_cannot_resolve_is_the_full_spread():
    case = _float64_triplet_of_cancelling_distances()
    result = check_case(case)
    assert not result.failures
    truth, noise = result.rounding.measure()
    assert noise["value"] >= 2.0**-26 / 2  # half a rounding of 1e8 at least, uncapped
    wrong = truth["value"] + 10 * NOISE_FACTOR * noise["value"]
    rel = RELATIVE[np.dtype(np.float64)]
    assert not result.rounding.explains("value", wrong, truth["value"], rel, 0.0)


def test_a_float64_value_with_float32_rounding_is_not_excused():
    # well conditioned: moving the inputs by one float64 rounding moves the loss by about one
    # float64 rounding, so a value rounded to float32 (1e-8 relative) is far outside it
    x = Arr(np.array([0.3, -1.7, 2.9]), grad=True)
    y = Arr(np.array([1.1, 0.4, -0.8]))
    case = Case("mse_loss", [x, y], {"reduction": "mean"}, np.float64)
    rounding = check_case(case).rounding
    truth, _ = rounding.measure()
    theirs = truth["value"]
    wrong = np.float64(np.float32(theirs)) + theirs * 2e-8
    assert not rounding.explains("value", wrong, theirs, RELATIVE[np.dtype(np.float64)], 0.0)


def _hinge_sum_of_an_infinity_and_two_huge_terms(reduction: str = "sum", inf_target=-1.0) -> Case:
    # terms x at target 1 (two of -1.7e308) and margin - x = +inf at x = -inf, target -1: torch's
    # vectorized sum adds the two huge terms first (-inf) and then meets +inf (NaN); the exact
    # sum, and lossgrad's, is +inf
    x = np.linspace(0.1, 0.9, 8)
    x[[0, 4]] = -1.7e308
    x[1] = -np.inf
    target = np.ones(8)
    target[1] = inf_target
    return Case(
        "hinge_embedding_loss",
        [Arr(x, grad=True), Arr(target)],
        {"margin": 2.5, "reduction": reduction},
        np.float64,
    )


def test_a_sum_order_nan_is_excused_where_the_exact_sum_is_our_infinity():
    case = _hinge_sum_of_an_infinity_and_two_huge_terms()
    result = check_case(case)
    assert result.deviations == ["sum-order-infinity"] and not result.failures
    deviation = explain(case, "value", np.float64(np.inf), np.float64(np.nan))
    assert deviation is not None and deviation.name == "sum-order-infinity"


def test_a_sum_order_nan_does_not_excuse_a_wrong_value():
    case = _hinge_sum_of_an_infinity_and_two_huge_terms()
    nan = np.float64(np.nan)
    for wrong in (-np.inf, 0.0, 1e308, np.nan):  # the other infinity, finite values, NaN
        assert explain(case, "value", np.float64(wrong), nan) is None
    assert explain(case, "value", np.float64(np.inf), np.float64(np.inf)) is None
    assert explain(case, "grad", np.float64(np.inf), nan) is None  # values only
    # unreduced: torch's terms are compared one by one
    unreduced = _hinge_sum_of_an_infinity_and_two_huge_terms("none")
    assert explain(unreduced, "value", np.full(8, np.inf), np.full(8, np.nan)) is None
    # terms of both infinities (x = -inf at target 1, x = +inf at target 1): the exact sum is
    # NaN too
    both = _hinge_sum_of_an_infinity_and_two_huge_terms(inf_target=1.0)
    both.args[0].base[2] = np.inf
    assert explain(both, "value", np.float64(np.inf), nan) is None
    assert explain(both, "value", np.float64(-np.inf), nan) is None
    # a NaN term: torch's NaN is the math's
    with_nan = _hinge_sum_of_an_infinity_and_two_huge_terms()
    with_nan.args[0].base[3] = np.nan
    assert explain(with_nan, "value", np.float64(np.inf), nan) is None


def _smoothed_cross_entropy_whose_smoothing_sum_overflows() -> Case:
    # two logits of -1.7e308 (one the target of its position): each term is finite, about
    # 1.6e308 and 8.5e306, and so is their sum, 1.7e308; torch adds the smoothing terms over
    # the batch first (3.4e308: inf) and scales them by eps / C after (seed 20073)
    x = np.array(
        [[[1.3596, -3.2566], [-1.7e308, 0.4127]], [[-1.7e308, 0.9966], [-0.7186, -0.0857]]]
    )
    return Case(
        "cross_entropy",
        [Arr(x, grad=True), Arr(np.array([[0, 0], [1, 0]]))],
        {"reduction": "sum", "label_smoothing": 0.1},
        np.float64,
    )


def test_a_sum_order_overflow_is_excused_where_the_exact_sum_is_our_value():
    case = _smoothed_cross_entropy_whose_smoothing_sum_overflows()
    result = check_case(case)
    assert result.deviations == ["sum-order-overflow"] and not result.failures
    terms = torch_terms(case)
    exact = math.fsum(terms.ravel().tolist())
    assert np.isfinite(exact)
    assert (
        explain(case, "value", np.float64(exact), np.float64(np.inf)).name == "sum-order-overflow"
    )


def test_a_sum_order_overflow_does_not_excuse_a_wrong_value():
    case = _smoothed_cross_entropy_whose_smoothing_sum_overflows()
    exact = math.fsum(torch_terms(case).ravel().tolist())
    for wrong in (exact * (1 - 1e-12), 0.0, 1e308, np.nan, -np.inf):
        assert explain(case, "value", np.float64(wrong), np.float64(np.inf)) is None


def test_a_cosine_term_near_zero_is_compared_at_the_size_of_one():
    # D = 1, y = 1: 1 - cos with cos one ulp from 1 is 6e-8 in float32, torch's 0 with its
    # AVX-512 sqrt (the float64 truth is 4e-13): one rounding of numbers of size 1
    case = Case(
        "cosine_embedding_loss",
        [
            Arr(np.array([-1.5939], np.float32), grad=True),
            Arr(np.array([-1.0781], np.float32), grad=True),
            Arr(np.array(1.0, np.float32)),
        ],
        {"margin": 0.5, "reduction": "sum"},
        np.float32,
    )
    assert _term_scale(case, None) == 6.0
    rel = RELATIVE[np.dtype(np.float32)]
    assert _mismatch(np.float32(6e-8), np.float32(0.0), rel, _term_scale(case, None)) is None
    assert _mismatch(np.float32(1e-3), np.float32(0.0), rel, _term_scale(case, None))


def test_the_multi_margin_graph_gradient_deviation_holds_on_the_create_graph_path_only():
    # p = 2, a class weight, 'sum', a score of -1.7e308 at the target: torch's kernel adds two
    # terms of 1.7e308 (-inf) before scaling by the upstream gradient; the create_graph formula
    # scales first (finite); the plain backward() is torch's kernel, -inf too (seed 20033)
    case = Case(
        "multi_margin_loss",
        [Arr(np.array([-1.7e308, -1.6546, -0.0]), grad=True), Arr(np.array(0))],
        {
            "reduction": "sum",
            "weight": Arr(np.array([1.5003, 1.7184, 1.0462])),
            "p": 2,
            "margin": 0.5,
        },
        np.float64,
    )
    result = check_case(case)
    assert "multi-margin-graph-gradient" in result.deviations and not result.failures
    ours, theirs = np.array([-1.2e308, 5.9e307, 5.9e307]), np.array([-np.inf, 5.9e307, 5.9e307])
    assert explain(case, "grad", ours, theirs).name == "multi-margin-graph-gradient"
    assert explain(case, "grad1", ours, theirs) is None


def test_a_float32_sum_order_overflow_is_excused_where_torchs_float64_value_is_ours():
    # one row, a logit of 1e38, class weights, label smoothing: torch's float32 sum of the
    # weighted smoothing terms overflows (inf); its float64 value, 1.0636e38, fits float32,
    # and so does lossgrad's (seed 30066)
    x = np.array([2.8554, -0.31712, 1e38, 6e-8, -0.0], np.float32)
    weight = np.array([0.2964, 1.1201, 0.9922, 0.3616, 0.6465], np.float32)
    case = Case(
        "cross_entropy",
        [Arr(x, grad=True), Arr(np.array(0))],
        {"reduction": "mean", "weight": Arr(weight), "label_smoothing": 0.1},
        np.float32,
    )
    result = check_case(case)
    assert result.deviations[:1] == ["sum-order-overflow"] and not result.failures
    exact = np.float32(exact_value(case))
    assert np.isfinite(exact)
    assert explain(case, "value", exact, np.float32(np.inf)).name == "sum-order-overflow"
    assert explain(case, "value", exact * np.float32(1.001), np.float32(np.inf)) is None


def _cosine_gradient_of_one_feature() -> tuple[Case, np.ndarray]:
    # seed 61082: one feature, cos = -1 up to the epsilon; x2's gradient subtracts two terms of
    # size 1 / |x2| = 2.53 (times the upstream) that cancel; torch's is 0, lossgrad's one ulp
    # of 2.53 (torch's AVX-512 float32 sqrt is not correctly rounded: the ulp falls elsewhere)
    x1 = Arr(np.array([-1.0674043], np.float32), grad=True)
    x2 = Arr(np.array([0.39526293, 1.6394125], np.float32), "step", grad=True)
    y = Arr(np.array(1.0, np.float32))
    case = Case("cosine_embedding_loss", [x1, x2, y], {"margin": -0.2}, np.float32)
    return case, np.array(1.5, np.float32)


def test_a_cosine_gradient_that_cancels_is_compared_at_the_size_of_its_terms():
    case, grad_output = _cosine_gradient_of_one_feature()
    assert not check_case(case).failures
    size = _cosine_gradient_terms(case, grad_output)[1]
    assert abs(size - 1.5 / 0.39526293) < 1e-6
    rel = 4 * RELATIVE[np.dtype(np.float32)]
    scale = size * np.finfo(np.float32).eps / rel * 4
    one_ulp = np.array([np.spacing(np.float32(size))])
    assert _mismatch(one_ulp, np.zeros(1, np.float32), rel, scale) is None
    assert _mismatch(10 * 4 * one_ulp, np.zeros(1, np.float32), rel, scale) is not None


def _float16_focal_beyond_its_range() -> Case:
    # torch's float64 d2l/dy2 at x = 40000, y = 0.377 is 149520, beyond float16's 65504: torch's
    # float16 second gradient meets inf - inf (NaN), ours rounds the truth to an infinity
    x = Arr(np.full((1, 1), 40000, np.float16), grad=True)
    y = Arr(np.full((1, 1), 0.377, np.float16), grad=True)
    return Case(
        "sigmoid_focal_loss",
        [x, y],
        {"alpha": -1.0, "gamma": 2.0, "reduction": "none"},
        np.float16,
    )


def test_an_infinity_where_torch_is_nan_is_excused_where_the_truth_overflows():
    result = check_case(_float16_focal_beyond_its_range())
    assert not result.failures
    assert "overflow-where-torch-is-nan" in result.deviations
    truth, _ = result.rounding.measure()
    assert abs(truth["second grad 1"].item()) > np.finfo(np.float16).max


def test_an_infinity_where_torch_is_nan_is_not_excused_where_the_truth_is_finite():
    rounding = check_case(_float16_focal_beyond_its_range()).rounding
    rel = SECOND_ORDER[np.dtype(np.float16)]
    nan = np.full((1, 1), np.nan, np.float16)
    # the first second gradient's truth is finite (-1.16): an infinity there is wrong
    assert np.isfinite(rounding.measure()[0]["second grad 0"]).all()
    assert not rounding.overflows_where_torch_is_nan(
        "second grad 0", np.full((1, 1), np.inf, np.float16), nan, rel, 0.0
    )
    # and an infinity of the wrong sign is wrong where the truth overflows
    sign = np.sign(rounding.measure()[0]["second grad 1"])
    assert not rounding.overflows_where_torch_is_nan(
        "second grad 1", (-sign * np.inf).astype(np.float16), nan, rel, 0.0
    )


def _float64_cosine_of_one_feature() -> Case:
    # fuzz seed 14201: one feature, float64; the second gradients (about 1e-12, from torch's
    # 1e-12 epsilon) are rounding noise of terms of size about 1 (ours -1.38095e-12, torch's
    # -1.38112e-12), and the float32 run measures no noise (the epsilon vanishes there)
    x1 = Arr(np.array([[1.3283, -4.9837], [2.8822, -0.112], [0.7557, -2.0108]]), "step", True)
    x2 = Arr(np.array([[-1.792, 2.2465], [-0.9312, -0.1298], [1.1881, -3.7809]]), "step", True)
    y = Arr(np.array([-1.0, -1.0, 1.0]))
    return Case("cosine_embedding_loss", [x1, x2, y], {"margin": 0.5}, np.float64)


def test_a_one_feature_cosines_second_gradient_is_compared_at_the_size_of_its_terms():
    case = _float64_cosine_of_one_feature()
    result = check_case(case)
    assert not result.failures
    rounding = result.rounding
    terms = _cosine_second_gradient_terms(case, rounding.grad_output, rounding.directions)
    assert 0.1 < terms < 10
    # the bound is a few roundings of those terms: an error of 1e-13 on values of 1e-12 fails
    truth = rounding.measure()[0]["second grad 0"]
    rel = SECOND_ORDER[np.dtype(np.float64)]
    scale = terms * np.finfo(np.float64).eps / rel * 4
    assert _mismatch(truth, truth, rel, scale) is None
    assert _mismatch(truth + 1e-13, truth, rel, scale) is not None
