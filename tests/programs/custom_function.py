"""Custom autograd Functions as the tutorial defines them: a Legendre polynomial fitted to sin(x)
with manual updates, a Function saving its output, one marked non-differentiable outputs, and
gradcheck of a Function in float64."""

import math

import torch


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input**3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input**2 - 1)


x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
a = torch.full((), 0.0, requires_grad=True)
b = torch.full((), -1.0, requires_grad=True)
c = torch.full((), 0.0, requires_grad=True)
d = torch.full((), 0.3, requires_grad=True)
learning_rate = 5e-6
for t in range(300):
    P3 = LegendrePolynomial3.apply
    y_pred = a + b * P3(c + d * x)
    loss = (y_pred - y).pow(2).sum()
    if t % 100 == 99:
        print(t, round(loss.item(), 2))
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None
print(f"Result: y = {a.item():.4f} + {b.item():.4f} * P3({c.item():.4f} + {d.item():.4f} x)")


class Exp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, i):
        result = i.exp()
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad_output):
        (result,) = ctx.saved_tensors
        return grad_output * result


v = torch.tensor([0.0, 1.0, -1.0], requires_grad=True)
out = Exp.apply(v)
out.sum().backward()
print(
    "Exp grad:",
    [round(g, 5) for g in v.grad.tolist()],
    type(out.grad_fn).__name__.startswith("Exp"),
)


class SortWithIndex(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values):
        sorted_values, order = values.sort()
        ctx.mark_non_differentiable(order)
        ctx.save_for_backward(order)
        return sorted_values, order

    @staticmethod
    def backward(ctx, grad_sorted, grad_order):
        (order,) = ctx.saved_tensors
        grad = torch.zeros_like(grad_sorted)
        grad[order] = grad_sorted
        return grad


w = torch.tensor([3.0, 1.0, 2.0], requires_grad=True)
s, idx = SortWithIndex.apply(w)
(s * torch.tensor([1.0, 10.0, 100.0])).sum().backward()
print("sorted:", s.tolist(), "order:", idx.tolist(), "requires_grad:", idx.requires_grad)
print("grad through sort:", w.grad.tolist())


class MulConstant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, constant):
        ctx.constant = constant
        return tensor * constant

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.constant, None


z = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
print("gradcheck:", torch.autograd.gradcheck(lambda t: MulConstant.apply(t, 3.0), (z,)))
print("gradcheck P3:", torch.autograd.gradcheck(LegendrePolynomial3.apply, (z,)))
