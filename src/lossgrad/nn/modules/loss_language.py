"""Modules of the language-model losses: ``nn.LinearCrossEntropyLoss`` (torch 2.13) and
``nn.AdaptiveLogSoftmaxWithLoss``."""

from __future__ import annotations

import itertools
import math
from collections import namedtuple
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad._exports import public_names
from lossgrad._factories import zeros
from lossgrad._tensor import Tensor
from lossgrad.nn import functional as F
from lossgrad.nn.functional.loss_language import LinearCrossEntropyOptions
from lossgrad.nn.modules.container import ModuleList, Sequential
from lossgrad.nn.modules.linear import Linear
from lossgrad.nn.modules.loss import _WeightedLoss
from lossgrad.nn.modules.module import Module
from lossgrad.ops.activation import log_softmax
from lossgrad.ops.index import index_select, scatter_add
from lossgrad.ops.pointwise import add, neg
from lossgrad.ops.reduce import mean
from lossgrad.ops.shape import cat, reshape, squeeze, unsqueeze


class LinearCrossEntropyLoss(_WeightedLoss):
    """A language-model head ``nn.Linear(in_features, prod(num_classes, *out_features))`` and
    cross-entropy in one (see ``F.linear_cross_entropy``).

    The head is kept as a 2-D ``self.linear`` and reshaped to ``(num_classes, *out_features,
    in_features)`` in ``forward``, as torch does. ``options=LinearCrossEntropyOptions(...)``
    selects the chunked path (no ``N x num_classes`` logits held).

    Shape:
        - Input: ``(in_features)`` or ``(N, in_features)``.
        - Target: class indices ``()``, ``(N)`` or ``(N, *out_features)``; or probabilities
          ``(C)`` or ``(N, C, *out_features)``.
        - Output: scalar, or the target's shape for ``reduction='none'``.

    Example:
        >>> import lossgrad as torch
        >>> loss = torch.nn.LinearCrossEntropyLoss(4, 10, bias=True)
        >>> out = loss(torch.randn(3, 4), torch.tensor([1, 0, 9]))
        >>> out.shape
        torch.Size([])
    """

    __constants__ = ["num_classes", "out_features", "reduction", "ignore_index", "label_smoothing"]

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        out_features: tuple[int, ...] = (),
        bias: bool = False,
        device: Any = None,
        dtype: Any = None,
        reduction: str = "mean",
        weight: Tensor | None = None,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        options: LinearCrossEntropyOptions | None = None,
    ) -> None:
        if weight is not None and tuple(weight.shape) != (num_classes,):
            raise RuntimeError(
                f"expected weight shape to be {(num_classes,)}, got {tuple(weight.shape)}"
            )
        if label_smoothing < 0 or label_smoothing > 1.0:
            raise RuntimeError(
                f"expected label_smoothing to be in range [0, 1], got {label_smoothing}"
            )
        super().__init__(weight, None, None, reduction)
        self.num_classes = num_classes
        self.out_features = out_features
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.linear = Linear(
            in_features,
            math.prod(out_features, start=num_classes),
            bias=bias,
            device=device,
            dtype=dtype,
        )
        self.options = options

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        head_shape = (self.num_classes, *self.out_features)
        linear_weight = reshape(self.linear.weight, (*head_shape, self.linear.in_features))
        bias = self.linear.bias
        return F.linear_cross_entropy(
            input,
            linear_weight,
            target,
            linear_bias=reshape(bias, head_shape) if bias is not None else None,
            weight=self.weight,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            options=self.options,
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.linear.in_features},"
            f" num_classes={self.num_classes},"
            f" out_features={self.out_features},"
            f" bias={self.linear.bias is not None},"
            f" reduction={self.reduction},"
            f" ignore_index={self.ignore_index},"
            f" label_smoothing={self.label_smoothing},"
            f" options={self.options}"
        )


_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax approximation (Grave et al., 2017), torch's module exactly.

    The classes are split by ``cutoffs`` into a shortlist ``[0, cutoffs[0])`` predicted by the
    head, and clusters ``[cutoffs[i], cutoffs[i + 1])`` whose probability is the head's
    probability of the cluster times a softmax over the cluster, computed by the ``i``-th tail
    (``Linear(in_features, in_features // div_value**(i + 1)) -> Linear(..., cluster size)``,
    no bias). For a target ``y`` in cluster ``k``::

        log p(y | x) = log_softmax(head(x))[shortlist_size + k] + log_softmax(tail_k(x))[y - c_k]

    and ``log p(y | x) = log_softmax(head(x))[y]`` in the shortlist. ``forward`` returns the
    namedtuple ``(output, loss)``: ``output`` the target log-probabilities, ``loss`` the mean
    negative log-likelihood. Each log-probability is computed as the negated cross-entropy of
    its row (``-F.cross_entropy(logits, index, reduction='none')``: the fused row kernel, which
    never holds the ``(rows, classes)`` log-probabilities); gradients and second derivatives
    flow through lossgrad ops.

    Reference: PyTorch ``torch.nn.AdaptiveLogSoftmaxWithLoss``; E. Grave et al., "Efficient
    softmax approximation for GPUs" (ICML 2017).

    Shape:
        - Input: ``(N, in_features)`` or ``(in_features)``.
        - Target: ``(N)`` or ``()``, values in ``[0, n_classes)``.
        - output: ``(N)`` or ``()``; loss: scalar.

    Example:
        >>> import lossgrad as torch
        >>> asm = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[4, 7], div_value=2.0)
        >>> out = asm(torch.randn(5, 8), torch.tensor([0, 3, 5, 8, 9]))
        >>> out.output.shape, out.loss.shape
        (torch.Size([5]), torch.Size([]))
        >>> asm.log_prob(torch.randn(2, 8)).exp().sum(1).allclose(torch.ones(2))
        True
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        head_bias: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (
            (cutoffs != sorted(cutoffs))
            or (min(cutoffs) <= 0)
            or (max(cutoffs) > (n_classes - 1))
            or (len(set(cutoffs)) != len(cutoffs))
            or any(int(c) != c for c in cutoffs)
        ):
            raise ValueError(
                "cutoffs should be a sequence of unique, positive "
                "integers sorted in an increasing order, where "
                "each value is between 1 and n_classes-1"
            )
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        factory = {"device": device, "dtype": dtype}
        self.head = Linear(self.in_features, self.head_size, bias=self.head_bias, **factory)
        self.tail = ModuleList()
        for cluster in range(self.n_clusters):
            hidden_size = int(self.in_features // (self.div_value ** (cluster + 1)))
            cluster_size = self.cutoffs[cluster + 1] - self.cutoffs[cluster]
            self.tail.append(
                Sequential(
                    Linear(self.in_features, hidden_size, bias=False, **factory),
                    Linear(hidden_size, cluster_size, bias=False, **factory),
                )
            )

    def reset_parameters(self) -> None:
        """Re-draws every parameter as the constructor does."""
        self.head.reset_parameters()
        for to_hidden, to_output in self.tail:
            to_hidden.reset_parameters()
            to_output.reset_parameters()

    def forward(self, input_: Tensor, target_: Tensor) -> _ASMoutput:
        target_dim = target_.dim()
        if target_dim == 1:
            if input_.size(0) != target_.size(0):
                raise RuntimeError(
                    "Input and target should have the same size in the batch dimension."
                )
            if input_.dim() != 2:
                raise RuntimeError(
                    "1D target tensor expects 2D input tensors, "
                    f"but found inputs with size {input_.size()}"
                )
        elif target_dim == 0:
            if input_.dim() != 1:
                raise RuntimeError(
                    "0D target tensor expects 1D input tensors, "
                    f"but found inputs with size {input_.size()}"
                )
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        batched = target_dim > 0
        input = input_ if batched else unsqueeze(input_, 0)
        target = np.atleast_1d(target_._data)
        bounds = [0, *self.cutoffs]
        in_range = (target >= 0) & (target < self.n_classes)
        if not in_range.all():
            raise RuntimeError(
                f"Target values should be in [0, {self.n_classes - 1}], "
                f"but values in range [{target.min()}, {target.max()}] were found. "
            )
        cluster_of = np.searchsorted(np.asarray(self.cutoffs), target, side="right")
        head_index = np.where(cluster_of == 0, target, self.shortlist_size + cluster_of - 1)
        # each log-probability as the negated cross-entropy of its row: the fused row kernel
        # keeps the gradient, never the (rows, classes) log-probabilities (torch's sum order:
        # the clusters' values, then the head's added)
        cluster_values = zeros(target.shape, dtype=input.dtype)
        for cluster in range(1, len(bounds) - 1):
            rows = np.flatnonzero(cluster_of == cluster)
            if rows.size == 0:
                continue
            row_index = Tensor._make(rows)
            cluster_logits = self.tail[cluster - 1](index_select(input, 0, row_index))
            relative_target = Tensor._make(target[rows] - bounds[cluster])
            local_logprob = neg(F.cross_entropy(cluster_logits, relative_target, reduction="none"))
            cluster_values = scatter_add(cluster_values, 0, row_index, local_logprob)
        head_logits = self.head(input)
        head_index_tensor = Tensor._make(head_index)
        head_logprob = neg(F.cross_entropy(head_logits, head_index_tensor, reduction="none"))
        output = add(cluster_values, head_logprob)
        loss = mean(neg(output))
        if not batched:
            output = squeeze(output, 0)
        return _ASMoutput(output, loss)

    def _get_full_log_prob(self, input: Tensor, head_output: Tensor) -> Tensor:
        """Log-probabilities of all ``n_classes`` from the input and the head's output."""
        head_logprob = log_softmax(head_output, 1)
        pieces = [head_logprob[:, : self.shortlist_size]]
        for cluster, _ in enumerate(itertools.pairwise(self.cutoffs)):
            cluster_logprob = log_softmax(self.tail[cluster](input), 1)
            cluster_prior = unsqueeze(head_logprob[:, self.shortlist_size + cluster], 1)
            pieces.append(add(cluster_logprob, cluster_prior))
        return cat(pieces, 1)

    def log_prob(self, input: Tensor) -> Tensor:
        """Log-probabilities of every class, ``(N, n_classes)``."""
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input: Tensor) -> Tensor:
        """The most probable class of each row (``log_prob(input).argmax(1)``, computing the
        clusters only for rows whose head prefers a cluster)."""
        head_output = self.head(input)
        output = np.argmax(head_output._data, axis=1)
        not_in_shortlist = output >= self.shortlist_size
        if not_in_shortlist.any():
            rows = Tensor._make(np.flatnonzero(not_in_shortlist))
            log_prob = self._get_full_log_prob(
                index_select(input, 0, rows), index_select(head_output, 0, rows)
            )
            output[not_in_shortlist] = np.argmax(log_prob._data, axis=1)
        return Tensor._make(output)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = [*public_names(globals()), "LinearCrossEntropyOptions"]
