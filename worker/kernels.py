"""Every call into torch's private API, each with a public fallback.

Underscore functions and raw aten overloads carry no compatibility promise: a torch release may
rename, re-sign or drop them. Each is looked up once, here, by name; where it is missing the same
result comes from the public path (torch.optim's own step, plain tensor ops). Nothing else in the
project calls a private torch function. tests/unit/worker/test_kernels.py holds each fast path
equal to its public counterpart on the installed torch, and each fallback equal too.
"""

import torch

# None where this torch lacks them; tests set them to None to exercise the fallbacks.
FUSED_ADAM = getattr(torch, "_fused_adam_", None)
FUSED_ADAMW = getattr(torch, "_fused_adamw_", None)
FOREACH_ADD = getattr(torch, "_foreach_add_", None)
_THRESHOLD = getattr(torch.ops.aten, "threshold_backward", None)
THRESHOLD_BACKWARD = getattr(_THRESHOLD, "grad_input", None)


def relu_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """grad where the ReLU's output `out` is positive, else 0, as autograd's ReLU backward gives
    it; the result is laid out like `out` (contiguous), whatever grad's strides (the stacked
    engine relies on that to view it in the first layer's layout without a copy)."""
    result = torch.empty_like(out)
    if THRESHOLD_BACKWARD is not None:
        return THRESHOLD_BACKWARD(grad, out, 0, grad_input=result)
    return torch.where(out > 0, grad, out.new_zeros(()), out=result)


class OptimizerStep:
    """opt.step() for a fused Adam or AdamW with one parameter group, without torch.optim's
    per-call Python bookkeeping (a sizeable share of a small network's step at batch 32). It
    runs the very kernel opt.step() runs, on the optimizer's own state tensors, so results and
    state_dict() are bitwise the same. Anything else (SGD, several groups, amsgrad, a torch
    without the fused kernels) calls opt.step().

    The first call goes through opt.step(), which creates the state; the state must not be
    replaced afterwards (resume states are loaded before training starts)."""

    def __init__(self, opt: torch.optim.Optimizer):
        self.opt = opt
        self.direct: tuple | None = None
        group = opt.param_groups[0]
        self.eligible = (
            type(opt) in (torch.optim.Adam, torch.optim.AdamW)
            and len(opt.param_groups) == 1
            and group.get("fused")
            and not group["amsgrad"]
            and not group["capturable"]
            and not group["differentiable"]
            and not group["maximize"]
            and not isinstance(group["lr"], torch.Tensor)
        )

    def __call__(self) -> None:
        if self.direct is None:
            self.opt.step()
            if self.eligible:
                self._prepare()
            return
        params, exp_avgs, exp_avg_sqs, steps, kernel = self.direct
        group = self.opt.param_groups[0]
        if FOREACH_ADD is not None:
            FOREACH_ADD(steps, 1)
        else:
            for step in steps:
                step.add_(1)
        kernel(
            params,
            [p.grad for p in params],
            exp_avgs,
            exp_avg_sqs,
            [],
            steps,
            amsgrad=False,
            lr=group["lr"],
            beta1=group["betas"][0],
            beta2=group["betas"][1],
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=False,
        )

    def _prepare(self) -> None:
        group = self.opt.param_groups[0]
        params = group["params"]
        decoupled = group.get("decoupled_weight_decay", type(self.opt) is torch.optim.AdamW)
        kernel = FUSED_ADAMW if decoupled else FUSED_ADAM
        if kernel is None or any(p.grad is None or p not in self.opt.state for p in params):
            self.eligible = False  # no kernel, or a parameter without a gradient: torch steps
            return
        states = [self.opt.state[p] for p in params]
        self.direct = (
            params,
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [s["step"] for s in states],
            kernel,
        )
