"""worker/kernels.py: each private torch call equals its public counterpart on the installed
torch, and so does each fallback, taken where the private function is missing."""

import pytest
import torch
import torch.nn.functional as F

from worker import kernels
from worker.kernels import OptimizerStep, relu_backward
from worker.regularize import weight_decay_

OPTIMIZERS = {
    "adam": lambda ps, **kw: torch.optim.Adam(ps, lr=1e-2, fused=True, **kw),
    "adamw": lambda ps, **kw: torch.optim.AdamW(ps, lr=1e-2, fused=True, **kw),
    "sgd": lambda ps, **kw: torch.optim.SGD(ps, lr=1e-2, fused=True, **kw),
    "sgd momentum": lambda ps, **kw: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, fused=True, **kw),
}


@pytest.fixture(params=["private", "fallback"])
def path(request, monkeypatch):
    """Each test runs on the private functions, then as on a torch without them."""
    if request.param == "fallback":
        for name in ("FUSED_ADAM", "FUSED_ADAMW", "FOREACH_ADD", "THRESHOLD_BACKWARD"):
            monkeypatch.setattr(kernels, name, None)
    return request.param


def params() -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [torch.randn(30, 20, requires_grad=True), torch.randn(20, requires_grad=True)]


def steps(reference, ours, step_ref, step_ours, n=6):
    """n steps of both on the same random gradients."""
    for _ in range(n):
        grads = [torch.randn_like(p) for p in reference]
        for p, q, g in zip(reference, ours, grads, strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        step_ref()
        step_ours()


@pytest.mark.parametrize(
    "make, direct",
    [
        (lambda ps: torch.optim.Adam(ps, lr=1e-2, fused=True), True),
        (lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1, fused=True), True),
        (lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=0.1, fused=True), True),
        (lambda ps: torch.optim.Adam(ps, lr=1e-2, amsgrad=True, fused=True), False),
        (lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, fused=True), False),
        (lambda ps: torch.optim.SGD(ps, lr=1e-2, weight_decay=0.1, fused=True), False),
        (lambda ps: torch.optim.SGD(ps, lr=1e-2, fused=True), False),
    ],
)
def test_optimizer_step_is_bitwise_opt_step(make, direct, path):
    reference = params()
    ours = [p.detach().clone().requires_grad_() for p in reference]
    ref_opt, our_opt = make(reference), make(ours)
    step = OptimizerStep(our_opt)
    steps(reference, ours, ref_opt.step, step)
    # The fast path is taken where it applies, and only where this torch has its kernel.
    assert (step.direct is not None) == (direct and path == "private")
    for p, q in zip(reference, ours, strict=True):
        assert torch.equal(p, q)
    for a, b in zip(
        ref_opt.state_dict()["state"].values(), our_opt.state_dict()["state"].values(), strict=True
    ):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_per_arm_weight_decay_equals_torch_optims_own(kind, path):
    # The stacked engine: each arm's slice decays by its own amount, the optimizer without decay.
    decays = [0.0, 0.1, 0.5]
    arms = [params() for _ in decays]
    alone = [OPTIMIZERS[kind](ps, weight_decay=wd) for ps, wd in zip(arms, decays, strict=True)]
    stacked = [torch.stack([ps[i].detach() for ps in arms]).requires_grad_() for i in range(2)]
    opt = OptimizerStep(OPTIMIZERS[kind](stacked, weight_decay=0.0))  # AdamW's default is 0.01

    def step_stacked():
        lr = opt.opt.param_groups[0]["lr"]
        with torch.no_grad():
            for p in stacked:
                for a, wd in enumerate(decays):
                    weight_decay_(p.detach()[a], p.grad[a], wd, lr, kind == "adamw")
        opt()

    for _ in range(6):
        grads = [[torch.randn_like(p) for p in ps] for ps in arms]
        for ps, gs in zip(arms, grads, strict=True):
            for p, g in zip(ps, gs, strict=True):
                p.grad = g.clone()
        for i, p in enumerate(stacked):
            p.grad = torch.stack([gs[i] for gs in grads])
        for o in alone:
            o.step()
        step_stacked()
    for a, ps in enumerate(arms):
        for i, p in enumerate(ps):
            torch.testing.assert_close(stacked[i].detach()[a], p.detach(), rtol=0, atol=1e-6)


def test_relu_backward_equals_autograd(path):
    torch.manual_seed(0)
    x = torch.randn(3, 40, 16, requires_grad=True)
    out = F.relu(x)
    grad = torch.randn(16, 40, 3).permute(2, 1, 0)  # strided unlike out, as the engine passes it
    (expected,) = torch.autograd.grad(out, x, grad)
    got = relu_backward(grad, out.detach())
    assert torch.equal(got, expected)
    assert got.is_contiguous() and got.stride() == out.stride()
