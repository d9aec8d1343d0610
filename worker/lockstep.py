"""Arms of the same architecture trained as one computation ("lockstep").

K arms of the fully connected network become one model whose parameters are stacked along a
leading arm axis: the first layer over the shared batch is a single matrix multiply of K times the
width, later layers are batched matrix multiplies, and the optimizer (elementwise: Adam, AdamW,
SGD) steps all arms in one fused kernel. Each arm's penalties, weight decay and proximal step act
on its slice of the stacked parameters. Results equal training the arms one by one up to float
rounding (the tests hold them to 1e-5), and each arm's weights, optimizer state and resume
checkpoint come out in exactly the one-by-one format, so a run may resume either way.

Eligible: the fully connected model without dropout or batch norm (dropout masks are each arm's
own random stream, batch norm its own statistics: those arms train one by one). Arms must share
every setting but their regularization (see `lockstep_key`). A lone eligible arm trains here too,
with K = 1: the hand-written backward makes this engine faster than the autograd engine.
"""

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from store.spec import TASK
from worker import checkpoint
from worker import data as D
from worker.config import TrainConfig
from worker.engines import compiled, evaluate_arms, mixed_precision, model_for
from worker.kernels import OptimizerStep, relu_backward
from worker.losses import CROSS_ENTROPY, Objective, objective_for
from worker.models import FullyConnected
from worker.regularize import (
    add_penalty,
    decoupled_decay,
    make_optimizer,
    optimizer_for,
    proximal_l1_step,
    weight_decay_,
)
from worker.stats import histogram_bases

# The arm's own treatment (store.spec: the settings with lockstep=True, and the arm's name);
# everything else must be equal for arms to share a computation.
ARM_FIELDS = TrainConfig.lockstep_fields


def lockstep_key(cfg: TrainConfig) -> tuple | None:
    """Arms with equal keys can train together; None: this arm trains on its own."""
    if cfg.model != "mlp" or cfg.dropout > 0 or cfg.batchnorm:
        return None
    return tuple(sorted((k, str(v)) for k, v in cfg.to_dict().items() if k not in ARM_FIELDS))


# On the CPU, a group's weights, gradients and optimizer moments must stay in the last-level
# cache: past it every step streams them from memory, and lockstep loses to one arm at a time.
# So a CPU group holds at most as many arms as fit in CACHE_SHARE of that cache (the rest is the
# batch's activations and everything else); docs/PERFORMANCE.md has the figures behind it. A GPU
# has no such cliff: there the configured limit applies.
CACHE_SHARE = 0.6
STATE_COPIES = 4  # weights, gradients, and Adam's two moments (SGD keeps fewer)
CPU_CACHES = Path("/sys/devices/system/cpu/cpu0/cache")


def last_level_cache() -> int | None:
    """Bytes of the CPU's largest cache, or None where the system does not say."""
    sizes = []
    for f in CPU_CACHES.glob("index*/size"):
        text = f.read_text().strip().upper()
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes, default=None)


def group_limit(cfg: TrainConfig, device: torch.device, limit: int) -> int:
    """How many arms like cfg may train together on this device (at most `limit`)."""
    cache = last_level_cache() if device.type == "cpu" else None
    if cache is None:
        return limit
    task = TASK.get(cfg.dataset)
    if task is not None:  # a toy task: vector inputs, the task's outputs
        inputs, outputs = task.input_dim(cfg.n_features), task.out_dim
    else:
        inputs, outputs = math.prod(D.IMAGE_SHAPES[cfg.dataset]), D.NUM_CLASSES
    with torch.device("meta"):  # shapes only: nothing allocated, no random numbers drawn
        model = FullyConnected(inputs, cfg.hidden, outputs, cfg.depth)
    per_arm = sum(p.numel() * p.element_size() for p in model.parameters()) * STATE_COPIES
    return max(1, min(limit, int(CACHE_SHARE * cache // per_arm)))


class Stacked(nn.Module):
    """K copies of FullyConnected, parameters stacked on dim 0 (linear_i_weight: (K, out, in))."""

    def __init__(self, arms: list[nn.Module]):
        super().__init__()
        self.k = len(arms)
        self.depth = arms[0].depth
        self.names = []  # per-arm parameter names, in FullyConnected's order
        for name, _ in arms[0].named_parameters():
            stacked = torch.stack([dict(a.named_parameters())[name].detach() for a in arms])
            self.register_parameter(name.replace(".", "_"), nn.Parameter(stacked.clone()))
            self.names.append(name)
        # Looked up once, not per step: layer i's stacked bias, or None (the last layer has none).
        self.biases = {i: getattr(self, f"linear_{i}_bias", None) for i in range(2, self.depth + 2)}

    def p(self, name: str) -> nn.Parameter:
        return getattr(self, name.replace(".", "_"))

    def forward(self, x: torch.Tensor, saved: list | None = None) -> torch.Tensor:
        """x: (B, ...) shared by all arms -> logits (K, B, classes). With `saved`, appends what
        forward_backward needs: the first layer's output (B, K*width), then per later layer its
        input, weight, bias and output."""
        x = x.flatten(1)
        w, b = self.p("linear_1.weight"), self.p("linear_1.bias")
        k, width = w.shape[0], w.shape[1]
        # One GEMM for every arm's first layer: (B, in) @ (in, K*width).
        first = F.linear(x, w.reshape(k * width, -1), b.reshape(-1)).relu_()
        h = first.view(-1, k, width).transpose(0, 1)  # (K, B, width)
        if saved is not None:
            saved.append(first)
        for i in range(2, self.depth + 2):
            w, bias = self.p(f"linear_{i}.weight"), self.biases[i]
            wt = w.transpose(1, 2)
            out = torch.bmm(h, wt) if bias is None else torch.baddbmm(bias.unsqueeze(1), h, wt)
            if i <= self.depth:
                out = out.relu_()
            if saved is not None:
                saved.append((h, w, bias, out))
            h = out
        return h

    @torch.no_grad()
    def forward_backward(
        self, x: torch.Tensor, y: torch.Tensor, objective: Objective = CROSS_ENTROPY
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One training step's forward and backward by hand: each arm's mean loss (K,) and the
        logits (K, B, classes); every parameter's .grad holds the gradient of its arm's loss.
        The same arithmetic autograd does (ReLU passes gradient where its output is positive),
        without the graph: for this network's small matrices autograd's bookkeeping and
        allocations are a sizeable share of a step, the more so the smaller the batch."""
        k, batch = self.k, x.shape[0]
        x = x.flatten(1)
        saved: list = []
        logits = self.forward(x, saved)
        first, layers = saved[0], saved[1:]
        w1, b1 = self.p("linear_1.weight"), self.p("linear_1.bias")
        width = w1.shape[1]
        loss, g = objective.means_and_grad(logits, y)
        for i in range(self.depth + 1, 1, -1):
            inp, w, bias, out = layers[i - 2]
            if i <= self.depth:
                g = relu_backward(g, out)
            torch.bmm(g.transpose(1, 2), inp, out=self._grad(w))
            if bias is not None:
                torch.sum(g, 1, out=self._grad(bias))
            g = torch.bmm(g, w)
        # Into the (B, K*width) layout of the first layer in the same pass: relu_backward's
        # result is laid out like `first`, so no transposing copy is needed.
        g = relu_backward(g.transpose(0, 1), first.view(batch, k, width)).view(batch, k * width)
        torch.mm(g.t(), x, out=self._grad(w1).view(k * width, -1))
        torch.sum(g, 0, out=self._grad(b1).view(-1))
        return loss, logits

    @staticmethod
    def _grad(p: nn.Parameter) -> torch.Tensor:
        """p's gradient buffer, kept from step to step (every step overwrites it whole)."""
        if p.grad is None:
            p.grad = torch.empty_like(p)
        return p.grad

    def arm_state(self, k: int) -> dict[str, torch.Tensor]:
        return {name: self.p(name).detach()[k] for name in self.names}


class StackedEngine:
    """K arms (see lockstep_key) as one Stacked model, one optimizer over its stacked parameters.

    Each arm's penalties, weight decay and proximal step act on its own slice of the stacked
    parameters, with the very functions a lone arm uses, so an arm's arithmetic is the one it
    has alone. The optimizer is elementwise (Adam, AdamW, SGD) and runs without decay: decay
    differs per arm, and weight_decay_ applies it as torch.optim would."""

    def __init__(
        self,
        cfgs: list[TrainConfig],
        train_split: D.Split,
        device: torch.device,
        compile_model: bool = False,
    ):
        base = cfgs[0]
        # Stackable models; whether the arms may share batches too is the loop's concern.
        assert all(lockstep_key(c) is not None for c in cfgs)
        self.cfgs, self.device, self.k = cfgs, device, len(cfgs)
        self.objective = objective_for(base)
        # Every arm's model is built exactly as it would be alone: equal initial weights.
        self.refs = [model_for(cfg, train_split) for cfg in cfgs]
        self.model = Stacked(self.refs).to(device)
        self.bases = histogram_bases(self.refs[0].state_dict())
        self.opt = optimizer_for(base, list(self.model.parameters()))
        self.opt_step = OptimizerStep(self.opt)
        self.decoupled = decoupled_decay(base)
        self.forward = compiled(self.model, compile_model)
        # The hand-written backward is fp32 eager arithmetic; autocast and torch.compile go
        # through autograd.
        self.by_hand = not compile_model and base.precision == "fp32"
        self._zero = torch.zeros((), device=device)  # an arm without a penalty
        self._terms()

    @property
    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def _terms(self) -> None:
        """Per stacked parameter, the arms that act on it: penalty lambdas (only arms that have
        one), weight decay and proximal thresholds, each a list of (arm, value)."""
        groups = self.refs[0].layer_groups()
        lam = [cfg.layer_lambdas(len(groups)) for cfg in self.cfgs]  # [arm][layer] -> (l1, l2)
        self.penalties, self.decay, self.prox = [], [], []
        for i, (name, _weight, extras) in enumerate(groups):
            names = [f"{name}.weight"] + [f"{name}.bias" for _ in extras]
            for j, pname in enumerate(names):
                p = self.model.p(pname)
                arms = [(a, cfg) for a, cfg in enumerate(self.cfgs) if j == 0 or cfg.penalize_bias]
                pen = [(a, *lam[a][i]) for a, _ in arms if lam[a][i][0] or lam[a][i][1]]
                decay = [(a, cfg.weight_decay) for a, cfg in arms if cfg.weight_decay]
                prox = [(a, cfg.prox_l1) for a, cfg in arms if cfg.prox_l1]
                for kept, values in ((self.penalties, pen), (self.decay, decay), (self.prox, prox)):
                    if values:
                        kept.append((p, values))

    def step(self, xb, yb):
        if self.by_hand:
            data, logits = self.model.forward_backward(xb, yb, self.objective)
        else:
            with mixed_precision(self.cfgs[0], self.device):
                logits = self.forward(xb)  # (K, B, C)
                data = self.objective.means(logits, yb)
            self.opt.zero_grad(set_to_none=True)
            # Arms share no parameter: the gradient of the sum is each arm's own gradient.
            data.sum().backward()
        pen = self.penalty_and_gradients()
        self._update()
        return data.detach(), pen, logits.detach()

    @torch.no_grad()
    def penalty_and_gradients(self) -> torch.Tensor | None:
        """Each arm's penalty (K,), its gradient added to .grad: call after backward.

        Outside autograd and only for the arms that have a penalty: the same passes those arms'
        own penalties make one by one, on per-arm views (one unbind per parameter, not a select
        and an indexed add per arm and term), each arm's terms adding up in the one-by-one
        order."""
        if not self.penalties:
            return None
        values: list[torch.Tensor | None] = [None] * self.k
        for p, arms in self.penalties:
            weights, grads = p.detach().unbind(0), p.grad.unbind(0)
            for a, l1, l2 in arms:
                v = add_penalty(weights[a], grads[a], l1, l2)
                values[a] = v if values[a] is None else values[a].add_(v)
        return torch.stack([self._zero if v is None else v for v in values])

    @torch.no_grad()
    def _update(self) -> None:
        """Each arm's weight decay, the optimizer's step, each arm's proximal step."""
        lr = self.lr
        for p, arms in self.decay:
            weights, grads = p.detach().unbind(0), p.grad.unbind(0)
            for a, wd in arms:
                weight_decay_(weights[a], grads[a], wd, lr, self.decoupled)
        self.opt_step()
        for p, arms in self.prox:
            weights = p.detach().unbind(0)
            for a, lam in arms:
                proximal_l1_step([weights[a]], lr * lam)

    def evaluate(self, split: D.Split) -> tuple[list[float], list[float]]:
        loss, acc = evaluate_arms(self.model, split, self.objective)
        return loss.tolist(), acc.tolist()

    def arm_state(self, k: int) -> dict[str, torch.Tensor]:
        return self.model.arm_state(k)

    # ---- resume states in the one-by-one format ----

    def _arm_optimizer_map(self, k: int):
        """For arm k: its own optimizer (as make_optimizer builds it, for the param groups a
        lone arm's state carries) and, per its parameter index, the stacked parameter that
        holds it."""
        ref = self.refs[k]
        opt = make_optimizer(self.cfgs[k], ref)
        by_id = {id(p): name for name, p in ref.named_parameters()}
        order = [p for g in opt.param_groups for p in g["params"]]
        return opt, [self.model.p(by_id[id(p)]) for p in order]

    def arm_resume(self, k: int, epoch: int, metrics: dict[str, Any]) -> bytearray:
        """Arm k's resume state in the one-by-one format, snapshotted into a resume blob."""
        opt, stacked = self._arm_optimizer_map(k)
        state = {}
        for idx, p in enumerate(stacked):
            s = self.opt.state.get(p)
            if s:  # per-arm moments are stacked; the step count is shared by the group
                state[idx] = {
                    key: v.detach()[k] if v.ndim and v.shape[0] == self.k else v.detach()
                    for key, v in s.items()
                }
        return checkpoint.snapshot(
            {
                "epoch": epoch,
                "model": self.model.arm_state(k),
                "optimizer": {"state": state, "param_groups": opt.state_dict()["param_groups"]},
                "rng": torch.get_rng_state(),
                "metrics": metrics,
            }
        )

    def load_resume(self, states: list[dict[str, Any]]) -> None:
        with torch.no_grad():
            for k, st in enumerate(states):
                for name, v in st["model"].items():
                    self.model.p(name)[k].copy_(v)
        for k, st in enumerate(states):
            _, stacked = self._arm_optimizer_map(k)
            for idx, p in enumerate(stacked):
                for key, v in st["optimizer"]["state"].get(idx, {}).items():
                    dest, v = self.opt.state[p], v.to(p.device)
                    if v.ndim == 0:  # the step count, shared by the group
                        dest[key] = v.clone()
                    else:
                        dest.setdefault(key, torch.zeros_like(p))[k].copy_(v)
        torch.set_rng_state(states[0]["rng"])

    def final_models(self) -> list[nn.Module]:
        """Each arm as its own FullyConnected, as a lone arm's training returns it."""
        for a, ref in enumerate(self.refs):
            ref.load_state_dict({n: v.cpu() for n, v in self.model.arm_state(a).items()})
            ref.to(self.device)
        return self.refs
