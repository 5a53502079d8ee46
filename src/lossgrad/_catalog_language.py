"""Catalog entries of the language-model losses (``nn/functional/loss_language.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from lossgrad._catalog import Curve, Loss

TITLE = "Language models"


def _head_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    """Hidden state ``[z, 0]`` through an identity head: the target class wins by ``z``."""
    hidden = lib.stack([z, lib.zeros_like(z)], dim=1)
    head = lib.eye(2, dtype=z.dtype)
    target = lib.zeros(z.shape[0], dtype=lib.long)
    return lib.nn.functional.linear_cross_entropy(hidden, head, target, reduction="none", **p)


def _adaptive_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    """One input feature ``h = z``; classes {0, 1} in the head, the cluster {2, 3} in a tail;
    target class 2. The weights are fixed so that the cluster's head logit and class 2's logit
    in the tail are both ``h`` (with ``div_value=1``, one hidden unit); every other logit is 0."""
    module = lib.nn.AdaptiveLogSoftmaxWithLoss(1, 4, cutoffs=[2], dtype=z.dtype, **p)
    to_hidden, to_classes = module.tail[0]
    with lib.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
        module.head.weight[2] = 1.0
        to_hidden.weight.fill_(1.0)
        to_classes.weight[0] = 1.0
    target = lib.full((z.shape[0],), 2, dtype=lib.long)
    return -module(z.unsqueeze(1), target).output


def _pair_curve(fn: str) -> Any:
    """Chosen log-probability ``z`` against a rejected one of ``s['rejected']``."""

    def curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
        rejected = lib.full_like(z, s["rejected"])
        return getattr(lib.nn.functional, fn)(z, rejected, reduction="none", **p)

    return curve


def _dpo_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    zeros = lib.zeros_like(z)
    return lib.nn.functional.dpo_loss(z, zeros, zeros, zeros, reduction="none", **p)


def _linear_dpo_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    """One-token pairs through an identity head: the chosen token's logit leads by ``z``, the
    rejected sequence's two logits tie; reference-free."""
    zeros = lib.zeros_like(z)
    chosen = lib.stack([z, zeros], dim=1)
    hidden = lib.cat([chosen, lib.zeros_like(chosen)]).reshape(2 * z.shape[0], 1, 2)
    labels = lib.zeros(2 * z.shape[0], 1, dtype=lib.long)
    head = lib.eye(2, dtype=z.dtype)
    return lib.nn.functional.linear_dpo_loss(hidden, head, labels, reduction="none", **p)


def _distill_curve(fn: str) -> Any:
    """Student logits ``[z, 0]`` against a teacher ``[1, 0]``."""

    def curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
        student = lib.stack([z, lib.zeros_like(z)], dim=1)
        teacher = lib.stack([lib.ones_like(z), lib.zeros_like(z)], dim=1)
        return getattr(lib.nn.functional, fn)(student, teacher, reduction="none", **p)

    return curve


def _linear_distill_curve(
    lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]
) -> Any:
    """Student hidden state ``[z, 0]``, teacher ``[1, 0]``, both through an identity head."""
    zeros, head = lib.zeros_like(z), lib.eye(2, dtype=z.dtype)
    student = lib.stack([z, zeros], dim=1)
    teacher = lib.stack([lib.ones_like(z), zeros], dim=1)
    return lib.nn.functional.linear_distillation_loss(
        student, head, teacher, head, reduction="none", **p
    )


def _kto_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    labels = lib.ones(z.shape[0], dtype=lib.bool)
    return lib.nn.functional.kto_loss(z, lib.zeros_like(z), labels, reduction="none", **p)


def _grpo_curve(lib: ModuleType, z: Any, p: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    """One token per point, its log-ratio to the sampling policy ``z``, advantage 1."""
    one = lib.ones(1, 1, dtype=z.dtype)
    return lib.stack(
        [
            lib.nn.functional.grpo_loss(
                z[i : i + 1].reshape(1, 1),
                lib.ones(1, dtype=z.dtype),
                one,
                old_per_token_logps=lib.zeros(1, 1, dtype=z.dtype),
                **p,
            )
            for i in range(z.shape[0])
        ]
    )


_MARGIN = "log-ratio margin of the chosen completion"
_STUDENT = "student logit margin z (teacher margin 1, two classes)"

_HIDDEN = """\
input = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]], requires_grad=True)
target = torch.tensor([3, 0])
"""

_LOGPS = """\
chosen = torch.tensor([-4.0, -7.5, -3.2], requires_grad=True)
rejected = torch.tensor([-5.1, -6.0, -8.4], requires_grad=True)
"""

_DISTILL = """\
student = torch.tensor([[1.2, -0.5, 0.3], [0.1, 0.4, -0.8]], requires_grad=True)
teacher = torch.tensor([[2.0, -1.0, 0.0], [0.0, 1.0, -1.0]])
"""

ENTRIES: tuple[Loss, ...] = (
    Loss(
        key="linear_cross_entropy",
        functional="linear_cross_entropy",
        module="LinearCrossEntropyLoss",
        family="language",
        summary="A language-model head and cross entropy in one, optionally chunked over rows.",
        tex=r"\ell = -z_y + \log \sum_j e^{z_j},\qquad z = W h + b",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial h} = W^\top\bigl(\operatorname{softmax}(z) - "
            r"\operatorname{onehot}(y)\bigr),\qquad \frac{\partial \ell}{\partial W} = "
            r"\bigl(\operatorname{softmax}(z) - \operatorname{onehot}(y)\bigr)\,h^\top"
        ),
        in_torch=True,
        notes=(
            "options=LinearCrossEntropyOptions() selects the chunked path: the N × V logits and "
            "their gradient are never held; lossgrad's chunked path has second derivatives, "
            "torch's is first-order",
            "out_features, label_smoothing or non-int64 targets with options fall back to the "
            "reference path with torch's UserWarning",
            "ignore_index=None means −100 for class indices; all tokens ignored: 'mean' is NaN",
            "lossgrad extensions (keyword-only, off by default): lse_square_scale (z-loss), "
            "softcap, use_token_scaling (each token's loss times its detached target "
            "probability), return_z_loss, return_token_accuracy",
        ),
        example=_HIDDEN
        + "head = torch.tensor([[0.2, -0.1, 0.4], [0.0, 0.3, -0.2], [0.5, 0.1, 0.0],\n"
        "                     [-0.3, 0.2, 0.6], [0.1, -0.4, 0.2]], requires_grad=True)\n"
        "opts = nn.LinearCrossEntropyOptions(batch_chunk_size=1)   # chunked: no N x V logits\n"
        "output = F.linear_cross_entropy(input, head, target, options=opts)\n"
        "output.backward()\n",
        curve=Curve("margin", "margin of the target logit (two classes)", (-6.0, 6.0), _head_curve),
        aliases=("fused_linear_cross_entropy",),
    ),
    Loss(
        key="adaptive_log_softmax",
        functional=None,
        module="AdaptiveLogSoftmaxWithLoss",
        family="language",
        summary=(
            "Adaptive softmax: frequent classes in the head, rare ones in clusters scored by "
            "smaller tails."
        ),
        tex=(
            r"\ell = \begin{cases} -\log\operatorname{softmax}(z)_y & y < c_0 \\ "
            r"-\log\operatorname{softmax}(z)_{c_0 + k} - \log\operatorname{softmax}(t_k)_{y - c_k}"
            r" & c_k \le y < c_{k+1} \end{cases},\quad z = W h,\ t_k = U_k V_k h"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial z} = \operatorname{softmax}(z) - "
            r"\operatorname{onehot}(j),\quad \frac{\partial \ell}{\partial t_k} = "
            r"\operatorname{softmax}(t_k) - \operatorname{onehot}(y - c_k),\quad j = y\ "
            r"\text{or}\ c_0 + k"
        ),
        shape=(
            "input: (N, in_features) or (in_features); target: (N) or (), class indices below "
            "n_classes; output: (N) or (), and loss: a scalar"
        ),
        references=(
            (
                "Grave, E., Joulin, A., Cissé, M., Grangier, D. & Jégou, H. (2017). Efficient "
                "softmax approximation for GPUs. ICML 2017"
            ),
        ),
        in_torch=True,
        notes=(
            "a module only: torch has no functional form; forward returns the namedtuple "
            "(output, loss), output each target's log-probability log p(y | h), loss the "
            "negative mean of output",
            "cutoffs: increasing, unique integers in [1, n_classes − 1] (else ValueError); the "
            "head scores classes [0, c₀) and one logit per cluster [c_k, c_(k+1)), with "
            "n_classes appended to the cutoffs",
            "the tail of cluster k is Linear(in_features, in_features // div_value^(k+1)) then "
            "Linear to the cluster's classes, both without bias; head_bias adds a bias to the "
            "head only",
            "log_prob(input) gives the (N, n_classes) log-probabilities of every class; "
            "predict(input) their argmax, running the tails only for rows whose head prefers a "
            "cluster",
            "a target outside [0, n_classes) → RuntimeError; input (N, in_features) takes target"
            " (N), input (in_features) a 0-d target",
        ),
        example="""\
asm = nn.AdaptiveLogSoftmaxWithLoss(4, 10, cutoffs=[4, 8], div_value=2.0)
with torch.no_grad():   # weights set here: torch's and lossgrad's random draws differ
    for parameter in asm.parameters():
        parameter.copy_(torch.arange(float(parameter.numel())).reshape(parameter.shape).sin())
input = torch.tensor([[0.5, -1.0, 2.0, 0.1], [1.5, 0.0, -0.5, 0.3],
                      [-0.2, 0.8, 0.4, -1.1]], requires_grad=True)
target = torch.tensor([1, 5, 9])   # in the head, the first cluster, the second
result = asm(input, target)        # (output, loss): log p(target | input), −output.mean()
output = result.loss
output.backward()
""",
        curve=Curve(
            "hidden",
            "hidden value h (one feature; target in a tail cluster, its head and tail logits h)",
            (-6.0, 6.0),
            _adaptive_curve,
            params={"div_value": 1.0},
            note="with one input feature, the default div_value = 4 leaves the tail no hidden unit",
        ),
        aliases=("adaptive_softmax",),
    ),
    Loss(
        key="dpo",
        functional="dpo_loss",
        module=None,
        family="language",
        summary="Direct preference optimisation and TRL's 13 variants, from sequence log-probs.",
        tex=(
            r"\ell = -\log\sigma\Bigl(\beta\bigl[\log\tfrac{\pi(y_w)}{\pi_{ref}(y_w)} - "
            r"\log\tfrac{\pi(y_l)}{\pi_{ref}(y_l)}\bigr]\Bigr)"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial \log \pi(y_w)} = -\beta\,\sigma(-d) = "
            r"-\frac{\partial \ell}{\partial \log \pi(y_l)}"
        ),
        in_torch=False,
        notes=(
            "loss_type: sigmoid, hinge, ipo, exo_pair, nca_pair, robust, bco_pair, sppo_hard, "
            "aot, aot_unpaired, apo_zero, apo_down, discopop, sigmoid_norm (TRL 1.16); a list "
            "with loss_weights is Σ w_k·mean(ℓ_k)",
            "ipo and sigmoid_norm divide by the completion lengths (TRL), clamped at 1",
            "checked against Liger-Kernel's chunked DPO (CPU) and TRL's formulas",
        ),
        example=_LOGPS
        + "reference = torch.tensor([-4.5, -7.0, -5.0])\n"
        + "output = F.dpo_loss(chosen, rejected, reference, reference, beta=0.5)\n"
        + "output.backward()\n",
        torch_note="TRL DPOTrainer._compute_loss, loss_type='sigmoid'",
        curve=Curve("margin", _MARGIN, (-20.0, 20.0), _dpo_curve),
    ),
    Loss(
        key="linear_dpo",
        functional="linear_dpo_loss",
        module=None,
        family="language",
        summary="DPO with the policy's and reference's heads fused, chunked over pairs.",
        tex=(
            r"\ell = -\log\sigma\bigl(\beta[(s_w - s^{ref}_w) - (s_l - s^{ref}_l)]\bigr),"
            r"\qquad s = \sum_t \log\operatorname{softmax}(W h_t + b)_{y_t}"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial z_t} = \mp\beta\,\sigma(-d)\,"
            r"\bigl(\operatorname{onehot}(y_t) - \operatorname{softmax}(z_t)\bigr)"
        ),
        in_torch=False,
        notes=(
            "input is (2B, T, D): the chosen sequences, then the rejected (Liger's layout); the "
            "2B·T × V logits are never held",
            "the reference as ref_input/ref_weight/ref_bias, as reference_logps, or none",
            "average_log_prob, compute_nll_loss with alpha, as Liger's LigerFusedLinearDPOLoss; "
            "checked against it on the CPU",
        ),
        example="input = torch.randn(4, 3, 2, requires_grad=True)   # 2 pairs, 3 tokens\n"
        "head = torch.randn(5, 2, requires_grad=True)\n"
        "labels = torch.tensor([[-100, 1, 2], [-100, 4, 0], [-100, 3, 3], [-100, 0, 1]])\n"
        "output = F.linear_dpo_loss(input, head, labels, ref_input=input.detach(),\n"
        "                           ref_weight=head.detach() + 0.1, beta=0.5)\n"
        "output.backward()\n",
        torch_note="Liger-Kernel LigerFusedLinearDPOLoss (chunked, pure torch)",
        curve=Curve(
            "margin",
            "chosen token's logit lead z (two classes; the rejected token's logits tie)",
            (-10.0, 10.0),
            _linear_dpo_curve,
        ),
    ),
    Loss(
        key="simpo",
        functional="simpo_loss",
        module=None,
        family="language",
        summary="SimPO: reference-free preference on length-averaged log-probs with a margin γ.",
        tex=r"\ell = -\log\sigma\bigl(\beta(\bar a_w - \bar a_l) - \gamma\bigr)",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial \bar a_w} = -\beta\,\sigma\bigl(\gamma - "
            r"\beta(\bar a_w - \bar a_l)\bigr)"
        ),
        in_torch=False,
        notes=("label_smoothing mixes in −log σ(−u) as in Liger", "checked against Liger"),
        example=_LOGPS + "output = F.simpo_loss(chosen, rejected)\noutput.backward()\n",
        torch_note="Liger-Kernel LigerFusedLinearSimPOFunction.preference_loss_fn",
        curve=Curve(
            "margin",
            "chosen log-prob (rejected = {rejected:g})",
            (-6.0, 0.0),
            _pair_curve("simpo_loss"),
            {"rejected": -2.0},
        ),
    ),
    Loss(
        key="cpo",
        functional="cpo_loss",
        module=None,
        family="language",
        summary="CPO's preference term: −log σ(β·(log π(y_w) − log π(y_l))).",
        tex=r"\ell = -\log\sigma\bigl(\beta(a_w - a_l)\bigr)",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial a_w} = -\beta\,\sigma\bigl(-\beta(a_w - a_l)\bigr)"
        ),
        in_torch=False,
        notes=("the behaviour-cloning NLL term is added by the caller", "checked against Liger"),
        example=_LOGPS + "output = F.cpo_loss(chosen, rejected)\noutput.backward()\n",
        torch_note="Liger-Kernel LigerFusedLinearCPOFunction.preference_loss_fn",
        curve=Curve(
            "margin",
            "chosen log-prob (rejected = {rejected:g})",
            (-6.0, 0.0),
            _pair_curve("cpo_loss"),
            {"rejected": -2.0},
        ),
    ),
    Loss(
        key="orpo",
        functional="orpo_loss",
        module=None,
        family="language",
        summary="ORPO's odds-ratio term on length-averaged log-probabilities.",
        tex=(
            r"\ell = -\beta\log\sigma\bigl(\operatorname{lo}(\bar a_w) - "
            r"\operatorname{lo}(\bar a_l)\bigr),\quad \operatorname{lo}(a) = a - \log(1 - e^a)"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial \bar a_w} = -\frac{\beta\,\sigma(-o)}{1 - e^{\bar a_w}}"
        ),
        in_torch=False,
        notes=("log(1 − eᵃ) is computed as log(−expm1(a))", "checked against Liger"),
        example="chosen = torch.tensor([-0.4, -1.5], requires_grad=True)\n"
        "rejected = torch.tensor([-1.1, -0.9], requires_grad=True)\n"
        "output = F.orpo_loss(chosen, rejected)\noutput.backward()\n",
        torch_note="Liger-Kernel LigerFusedLinearORPOFunction.preference_loss_fn",
        curve=Curve(
            "margin",
            "chosen log-prob (rejected = {rejected:g})",
            (-4.0, -0.05),
            _pair_curve("orpo_loss"),
            {"rejected": -1.0},
        ),
    ),
    Loss(
        key="kto",
        functional="kto_loss",
        module=None,
        family="language",
        summary="KTO: unpaired preference loss, desirable and undesirable completions apart.",
        tex=r"\ell = w_d\bigl(1 - \sigma(\beta(r - z))\bigr)\ \text{or}\ "
        r"w_u\bigl(1 - \sigma(\beta(z - r))\bigr)",
        tex_gradient=r"\frac{\partial \ell}{\partial r} = \mp w\,\beta\,\sigma(u)(1-\sigma(u))",
        in_torch=False,
        notes=(
            "r = log π(y) − log π_ref(y); z = kl, the batch KL estimate, used as a constant",
            "checked against Liger's chunked KTO and TRL's KTOTrainer formula",
        ),
        example="logps = torch.tensor([-3.0, -6.0, -2.5], requires_grad=True)\n"
        "reference = torch.tensor([-4.0, -5.0, -2.0])\n"
        "labels = torch.tensor([True, False, True])\n"
        "output = F.kto_loss(logps, reference, labels, kl=0.1)\noutput.backward()\n",
        torch_note="TRL KTOTrainer, loss_type='kto'",
        curve=Curve("margin", "log-ratio r of a desirable completion", (-20.0, 20.0), _kto_curve),
    ),
    Loss(
        key="grpo",
        functional="grpo_loss",
        module=None,
        family="language",
        summary="Clipped policy-gradient loss of GRPO, BNPO, Dr. GRPO, DAPO and CISPO.",
        tex=r"\ell = -\min\bigl(\rho A,\ \operatorname{clip}(\rho, 1-\epsilon_l, 1+\epsilon_h) "
        r"A\bigr) + \beta\,k_3",
        tex_gradient=r"\frac{\partial \ell}{\partial \log\pi} = -\rho A\ \text{(unclipped)},\ 0"
        r"\ \text{(clipped)}",
        in_torch=False,
        notes=(
            "loss_type sets the normalisation: grpo per sequence, bnpo/dapo per token, "
            "dr_grpo by B·max_completion_length; cispo weights log π by the detached clipped ρ",
            "checked against Liger's chunked GRPO on the CPU",
        ),
        example="logps = torch.tensor([[-1.0, -2.0], [-0.5, -0.1]], requires_grad=True)\n"
        "old = torch.tensor([[-1.1, -1.8], [-0.7, -0.1]])\n"
        "mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])\n"
        "output = F.grpo_loss(logps, torch.tensor([1.0, -2.0]), mask, old_per_token_logps=old,\n"
        "                     epsilon_high=0.28)\noutput.backward()\n",
        torch_note="TRL GRPOTrainer, loss_type='dapo'",
        curve=Curve(
            "ratio", "log-ratio to the sampling policy (advantage 1)", (-1.0, 1.0), _grpo_curve
        ),
    ),
    Loss(
        key="generalized_jsd",
        functional="generalized_jsd_loss",
        module=None,
        family="language",
        summary="β-skew Jensen–Shannon divergence for distillation (β = 0/1: forward/reverse KL).",
        tex=r"\ell = \beta\,\mathrm{KL}(P\Vert M) + (1-\beta)\,\mathrm{KL}(S\Vert M),\quad "
        r"M = \beta P + (1-\beta) S",
        tex_gradient=(
            r"\frac{\partial \ell}{\partial \log S_c} = (1-\beta) S_c \bigl(\log S_c - \log M_c "
            r"- \mathrm{KL}(S\Vert M)\bigr)"
        ),
        in_torch=False,
        notes=(
            "S, P = softmax(logits / temperature); computed in log space",
            "'batchmean' divides by the tokens not ignored (Liger's convention), clamped at 1: "
            "every token ignored gives 0, as in TRL and Liger",
            "checked against Liger's chunked JSD and kornia's js_div_loss_2d",
        ),
        example=_DISTILL + "output = F.generalized_jsd_loss(student, teacher, beta=0.5)\n"
        "output.backward()\n",
        torch_note="Liger-Kernel LigerFusedLinearJSDFunction.distillation_loss_fn",
        curve=Curve("margin", _STUDENT, (-6.0, 6.0), _distill_curve("generalized_jsd_loss")),
    ),
    Loss(
        key="tvd",
        functional="tvd_loss",
        module=None,
        family="language",
        summary="Total variation distance between student and teacher token distributions.",
        tex=r"\ell = \tfrac12 \sum_c |S_c - P_c|",
        tex_gradient=r"\frac{\partial \ell}{\partial S_c} = \tfrac12\operatorname{sign}(S_c - P_c)",
        in_torch=False,
        notes=("S, P = softmax(logits / temperature)", "Liger's LigerTVDLoss formula"),
        example=_DISTILL + "output = F.tvd_loss(student, teacher)\noutput.backward()\n",
        torch_note="Liger-Kernel LigerTVDLoss",
        curve=Curve("margin", _STUDENT, (-6.0, 6.0), _distill_curve("tvd_loss")),
    ),
    Loss(
        key="distillation_kl",
        functional="distillation_kl_loss",
        module=None,
        family="language",
        summary="Hinton's distillation loss T²·KL(P‖S) at temperature T.",
        tex=r"\ell = T^2 \sum_c P_c (\log P_c - \log S_c)",
        tex_gradient=r"\frac{\partial \ell}{\partial s_c} = T\,(S_c - P_c)",
        in_torch=False,
        notes=(
            "S, P = softmax(logits / T); T² keeps the gradient's scale",
            "'batchmean' with every token ignored gives 0 (the count clamped at 1)",
        ),
        example=_DISTILL + "output = F.distillation_kl_loss(student, teacher, temperature=2.0)\n"
        "output.backward()\n",
        torch_note="Hinton et al. 2015; torch's kl_div(log S, log P, log_target=True) · T²",
        curve=Curve("margin", _STUDENT, (-6.0, 6.0), _distill_curve("distillation_kl_loss")),
    ),
    Loss(
        key="linear_distillation",
        functional="linear_distillation_loss",
        module=None,
        family="language",
        summary="JSD, TVD or KL distillation with the student's and teacher's heads fused.",
        tex=(
            r"\ell = D\bigl(\operatorname{softmax}(W_t h_t / T),\ "
            r"\operatorname{softmax}(W_s h_s / T)\bigr),\quad D = \mathrm{JSD}_\beta,\ "
            r"\mathrm{TVD}\ \text{or}\ T^2\,\mathrm{KL}"
        ),
        tex_gradient=(
            r"\frac{\partial \ell}{\partial h_s} = W_s^\top \frac{\partial \ell}{\partial z_s},"
            r"\qquad \frac{\partial \ell}{\partial W_s} = \frac{\partial \ell}"
            r"{\partial z_s}\,h_s^\top"
        ),
        in_torch=False,
        notes=(
            "divergence='jsd' (with beta), 'tvd' or 'kl': generalized_jsd_loss, tvd_loss or "
            "distillation_kl_loss of the two heads' logits",
            "chunk_size rows at a time: neither head's N × V logits are held; the teacher is "
            "a constant",
            "checked against Liger-Kernel's LigerFusedLinearJSDLoss on the CPU",
        ),
        example="student = torch.tensor([[1.2, -0.5], [0.1, 0.4], [0.3, -0.8]], "
        "requires_grad=True)\n"
        "head = torch.tensor([[0.5, -0.2], [0.1, 0.3], [-0.4, 0.2]], requires_grad=True)\n"
        "teacher = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])\n"
        "teacher_head = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5]])\n"
        "output = F.linear_distillation_loss(student, head, teacher, teacher_head, beta=0.5)\n"
        "output.backward()\n",
        torch_note="Liger-Kernel LigerFusedLinearJSDLoss (chunked, pure torch)",
        curve=Curve(
            "margin",
            "student hidden margin z through an identity head (teacher margin 1)",
            (-6.0, 6.0),
            _linear_distill_curve,
        ),
    ),
)
