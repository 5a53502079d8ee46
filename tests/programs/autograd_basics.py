"""Autograd basics: gradients of a small expression, accumulation, retain_graph, autograd.grad,
second derivatives, detach, requires_grad_ and no_grad."""

import torch

x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
w = torch.tensor(0.5, requires_grad=True)
y = (w * x**2 + 3 * x).sum()
print("y:", y.item(), y.grad_fn.name(), y.requires_grad)
y.backward(retain_graph=True)
print("x.grad:", x.grad.tolist(), "w.grad:", w.grad.item())
y.backward()  # a second backward accumulates
print("accumulated x.grad:", x.grad.tolist(), "w.grad:", w.grad.item())

x.grad.zero_()
w.grad = None
z = torch.sin(x) * torch.exp(-x / 4)
(dz,) = torch.autograd.grad(z.sum(), x, create_graph=True)
(d2z,) = torch.autograd.grad(dz.sum(), x)
print("dz:", [round(v, 5) for v in dz.tolist()])
print("d2z:", [round(v, 5) for v in d2z.tolist()])

a = x.detach()
print("detached requires_grad:", a.requires_grad, "leaf:", a.is_leaf)
b = torch.ones(2).requires_grad_()
c = (b * 2).mean()
c.backward()
print("b.grad:", b.grad.tolist())
with torch.no_grad():
    d = x * 2
print("no_grad result requires_grad:", d.requires_grad)

u = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
v = u @ u.T + u.relu().pow(3)
v.backward(torch.tensor([[1.0, 0.5], [0.25, 2.0]]))
print("u.grad:", u.grad.tolist())
print("norm of grad:", round(u.grad.norm().item(), 4))
