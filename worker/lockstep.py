"""Arms of the same architecture trained as one computation ("lockstep").

K arms of the fully connected network become one model whose parameters are stacked along a
leading arm axis: the first layer over the shared batch is a single matrix multiply of K times the
width, later layers are batched matrix multiplies, and the optimizer (elementwise: Adam, AdamW,
SGD) steps all arms in one fused kernel. Per-arm lambdas, weight decay and proximal thresholds are
tensors along the arm axis. Results equal training the arms one by one up to float rounding (the
tests hold them to 1e-5), and each arm's weights, optimizer state and resume checkpoint come out in
exactly the one-by-one format, so a run may resume either way.

Eligible: the fully connected model without dropout or batch norm (dropout masks are each arm's
own random stream, batch norm its own statistics: those arms train one by one). Arms must share
every setting but their regularization (see `lockstep_key`). A lone eligible arm trains here too,
with K = 1: the hand-written backward makes this engine faster than train()'s autograd loop.
"""

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worker import checkpoint
from worker import data as D
from worker.config import TrainConfig
from worker.models import FullyConnected
from worker.regularize import OptimizerStep, add_penalty, make_optimizer, optimizer_for
from worker.stats import histogram_bases, weight_figures
from worker.train import (
    EVAL_BATCH,
    EpochReport,
    TrainResult,
    compiled,
    epoch_batches,
    mixed_precision,
    model_for,
    timed_snapshot,
)

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
# Measured here (32 MiB L3, the tutorial's network, batch 32, per step): 3 arms 1.09x, 4 arms
# 1.0x, 6 arms 0.87x, 10 arms 0.82x of one by one. A GPU has no such cliff: lockstep fills it.
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
    with torch.device("meta"):  # shapes only: nothing allocated, no random numbers drawn
        model = FullyConnected(
            math.prod(D.IMAGE_SHAPES[cfg.dataset]), cfg.hidden, D.NUM_CLASSES, cfg.depth
        )
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
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One training step's forward and backward by hand: each arm's mean cross-entropy (K,)
        and the logits (K, B, classes); every parameter's .grad holds the gradient of its arm's
        loss. The same arithmetic autograd does (ReLU passes gradient where its output is
        positive), without the graph: for this network's small matrices autograd's bookkeeping
        and allocations cost 5 % of a step at batch 256 and 20 % at batch 32."""
        k, batch = self.k, x.shape[0]
        x = x.flatten(1)
        saved: list = []
        logits = self.forward(x, saved)
        first, layers = saved[0], saved[1:]
        w1, b1 = self.p("linear_1.weight"), self.p("linear_1.bias")
        width = w1.shape[1]
        logp = torch.log_softmax(logits, -1)
        loss = -logp.gather(2, y.view(1, -1, 1).expand(k, -1, 1)).squeeze(2).mean(1)
        # d(mean cross-entropy)/d(logits) = (softmax - one_hot) / B
        g = logp.exp_().sub_(F.one_hot(y, logits.shape[-1]).to(logp.dtype)).div_(batch)
        for i in range(self.depth + 1, 1, -1):
            inp, w, bias, out = layers[i - 2]
            if i <= self.depth:
                g = _relu_backward(g, out)
            torch.bmm(g.transpose(1, 2), inp, out=self._grad(w))
            if bias is not None:
                torch.sum(g, 1, out=self._grad(bias))
            g = torch.bmm(g, w)
        # Into the (B, K*width) layout of the first layer in the same pass (a transposing copy
        # and a bool mask made this 5 % of a three-arm step at batch 256).
        g = _relu_backward(g.transpose(0, 1), first.view(batch, k, width)).view(batch, k * width)
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


def _relu_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """grad where the ReLU's output is positive, else 0: autograd's own kernel for it, one
    elementwise pass, its result laid out like `out` (contiguous)."""
    return torch.ops.aten.threshold_backward.grad_input(
        grad, out, 0, grad_input=torch.empty_like(out)
    )


def _per_arm(values: list[float], like: torch.Tensor) -> torch.Tensor:
    """(K,) values shaped to broadcast over a stacked parameter like `like`."""
    t = torch.tensor(values, dtype=like.dtype, device=like.device)
    return t.view(-1, *([1] * (like.ndim - 1)))


class Lockstep:
    def __init__(self, cfgs: list[TrainConfig], train_split: D.Split, device: torch.device):
        self.cfgs, self.device = cfgs, device
        base = cfgs[0]
        # Every arm's model is built exactly as it would be alone: equal initial weights.
        self.refs = [model_for(cfg, train_split) for cfg in cfgs]
        self.model = Stacked(self.refs).to(device)
        self.bases = histogram_bases(self.refs[0].state_dict())
        # The optimizer's own decay stays off; each arm's decay is applied in step(), as torch
        # applies it.
        self.opt = optimizer_for(base, list(self.model.parameters()))
        self.opt_step = OptimizerStep(self.opt)
        self._zero = torch.zeros((), device=device)  # an arm without a penalty
        self._terms()

    def _terms(self) -> None:
        """Per layer and arm: penalty lambdas (only arms that have one), weight decay and
        proximal thresholds (tensors along the arm axis)."""
        groups = self.refs[0].layer_groups()
        n = len(groups)
        lam = [cfg.layer_lambdas(n) for cfg in self.cfgs]  # [arm][layer] -> (l1, l2)
        self.penalties, self.decay, self.prox = [], [], []
        for i, (name, _weight, extras) in enumerate(groups):
            names = [f"{name}.weight"] + [f"{name}.bias" for _ in extras]
            for j, pname in enumerate(names):
                p = self.model.p(pname)
                include = [j == 0 or cfg.penalize_bias for cfg in self.cfgs]
                arms = [
                    (a, lam[a][i][0], lam[a][i][1])
                    for a in range(len(self.cfgs))
                    if include[a] and (lam[a][i][0] or lam[a][i][1])
                ]
                if arms:
                    self.penalties.append((p, arms))
                wd = [cfg.weight_decay * include[a] for a, cfg in enumerate(self.cfgs)]
                if any(wd):
                    self.decay.append((p, _per_arm(wd, p)))
                prox = [cfg.prox_l1 * include[a] for a, cfg in enumerate(self.cfgs)]
                if any(prox):
                    self.prox.append((p, _per_arm(prox, p)))

    @torch.no_grad()
    def penalty_and_gradients(self) -> torch.Tensor | None:
        """Each arm's penalty (K,), its gradient added to .grad: call after backward.

        Outside autograd and only for the arms that have a penalty: the same passes those arms'
        own penalties make one by one (lambda * sign(w) and 2 * lambda * w are exactly the
        gradients autograd would give). In lockstep they read weights that the group's larger
        working set has pushed out of cache (see the README's Performance section). Each arm's
        terms add up in the one-by-one order, on per-arm views (one unbind per parameter, not a
        select and an indexed add per arm and term).
        """
        if not self.penalties:
            return None
        values: list[torch.Tensor | None] = [None] * self.model.k
        for p, arms in self.penalties:
            weights, grads = p.detach().unbind(0), p.grad.unbind(0)
            for a, l1, l2 in arms:
                v = add_penalty(weights[a], grads[a], l1, l2)
                values[a] = v if values[a] is None else values[a].add_(v)
        return torch.stack([self._zero if v is None else v for v in values])

    def step(self) -> None:
        lr = self.opt.param_groups[0]["lr"]
        kind = self.cfgs[0].optimizer
        with torch.no_grad():
            for p, wd in self.decay:
                if kind == "adamw":
                    p.mul_(1 - lr * wd)  # decoupled, before the step (torch's AdamW)
                else:
                    p.grad.add_(wd * p)  # coupled: L2 in the gradient (torch's Adam, SGD)
        self.opt_step()
        with torch.no_grad():
            for p, lam in self.prox:
                p.copy_(torch.sign(p) * torch.clamp(p.abs() - lr * lam, min=0))

    @torch.inference_mode()
    def evaluate(self, split: D.Split) -> tuple[list[float], list[float]]:
        k = self.model.k
        loss_sum = torch.zeros(k, dtype=torch.float64, device=self.device)
        correct = torch.zeros(k, dtype=torch.int64, device=self.device)
        for i in range(0, len(split), EVAL_BATCH):
            logits = self.model(D.as_float(split.x[i : i + EVAL_BATCH]))
            yb = split.y[i : i + EVAL_BATCH]
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), yb.repeat(k), reduction="none"
            ).view(k, -1)
            loss_sum += loss.sum(1).double()
            correct += (logits.argmax(-1) == yb).sum(1)
        n = len(split)
        return (loss_sum / n).tolist(), (correct.double() / n).tolist()

    # ---- resume states in the one-by-one format ----

    def _arm_optimizer_map(self, k: int):
        """For arm k: its own optimizer (as make_optimizer builds it) and, per its parameter
        index, the stacked parameter that holds it."""
        ref = self.refs[k]
        opt = make_optimizer(self.cfgs[k], ref)
        by_id = {id(p): name for name, p in ref.named_parameters()}
        order = [p for g in opt.param_groups for p in g["params"]]
        return opt, [self.model.p(by_id[id(p)]) for p in order]

    def arm_resume(self, k: int, epoch: int, metrics: dict[str, Any]) -> bytearray:
        """Arm k's resume state in the one-by-one format, snapshotted into a resume blob."""
        opt, stacked = self._arm_optimizer_map(k)
        template = opt.state_dict()
        state = {}
        for idx, p in enumerate(stacked):
            s = self.opt.state.get(p)
            if s:
                state[idx] = {
                    key: v.detach()[k] if v.ndim and v.shape[0] == self.model.k else v.detach()
                    for key, v in s.items()
                }
        return checkpoint.snapshot(
            {
                "epoch": epoch,
                "model": self.model.arm_state(k),
                "optimizer": {"state": state, "param_groups": template["param_groups"]},
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
                saved = st["optimizer"]["state"].get(idx)
                if not saved:
                    continue
                dest = self.opt.state[p]
                for key, v in saved.items():
                    v = v.to(p.device)
                    if v.ndim == 0:  # the step count, shared by the group
                        dest[key] = v.clone()
                    else:
                        if key not in dest:
                            dest[key] = torch.zeros_like(p)
                        dest[key][k].copy_(v)
        torch.set_rng_state(states[0]["rng"])


def train_lockstep(
    cfgs: list[TrainConfig],
    train_split: D.Split,
    val_split: D.Split,
    device: torch.device,
    report: Callable[[list[EpochReport]], None] = lambda reports: None,
    should_stop: Callable[[], bool] = lambda: False,
    on_start: Callable[[dict[str, float], int], None] = lambda bases, from_epoch: None,
    resume: list[dict[str, Any]] | None = None,
    keep_resume: bool | Callable[[int], bool] = False,
    measure: bool = True,
    compile_model: bool = False,
) -> list[TrainResult]:
    """train() for K compatible arms at once; report() gets the K arms' reports per epoch."""
    base = cfgs[0]
    assert all(lockstep_key(c) == lockstep_key(base) is not None for c in cfgs)
    ls = Lockstep(cfgs, train_split, device)
    model, k, n = ls.model, len(cfgs), len(train_split)
    start = 0
    results = [TrainResult(model=ref, epoch=0) for ref in ls.refs]
    if resume is not None:
        ls.load_resume(resume)
        start = resume[0]["epoch"]
        for r, st in zip(results, resume, strict=True):
            r.epoch, r.metrics = st["epoch"], st["metrics"]
    on_start(ls.bases, start)
    forward = compiled(model, compile_model)
    # The hand-written backward is fp32 eager arithmetic; autocast and torch.compile go through
    # autograd.
    by_hand = not compile_model and base.precision == "fp32"

    for epoch in range(start + 1, base.epochs + 1):
        t0 = time.perf_counter()
        data_sum = torch.zeros(k, dtype=torch.float64, device=device)
        pen_sum = torch.zeros(k, dtype=torch.float64, device=device)
        correct = torch.zeros(k, dtype=torch.int64, device=device)
        batches = 0
        for xb, yb in epoch_batches(train_split, base, epoch, should_stop):
            if by_hand:
                data, logits = model.forward_backward(xb, yb)
            else:
                with mixed_precision(base, device):
                    logits = forward(xb)  # (K, B, C)
                    data = (
                        F.cross_entropy(
                            logits.reshape(-1, logits.shape[-1]), yb.repeat(k), reduction="none"
                        )
                        .view(k, -1)
                        .mean(1)
                    )
                ls.opt.zero_grad(set_to_none=True)
                # Arms share no parameter: the gradient of the sum is each arm's own gradient.
                data.sum().backward()
            pen = ls.penalty_and_gradients()
            ls.step()
            data_sum += data.detach()
            if pen is not None:
                pen_sum += pen
            correct += (logits.argmax(-1) == yb).sum(1)
            batches += 1
        val_loss, val_acc = ls.evaluate(val_split)
        train_loss = (data_sum / batches).tolist()
        bad = [v for v in train_loss + val_loss if not math.isfinite(v)]
        if bad:
            raise FloatingPointError(
                f"the loss became {bad[0]} in epoch {epoch}; lower the learning rate or the lambdas"
            )
        elapsed = time.perf_counter() - t0
        penalties, accs = (pen_sum / batches).tolist(), (correct.double() / n).tolist()
        reports = []
        wanted = keep_resume(epoch) if callable(keep_resume) else keep_resume
        for a in range(k):
            state = model.arm_state(a)
            metrics = {
                "train_loss": train_loss[a],
                "penalty": penalties[a],
                "train_acc": accs[a],
                "val_loss": val_loss[a],
                "val_acc": val_acc[a],
                "lr": ls.opt.param_groups[0]["lr"],
                "epoch_time": elapsed,
                "samples_per_s": n / elapsed,  # each arm's images per second of the shared run
            }
            layers, hists = weight_figures(state, ls.bases) if measure else ({}, {})
            results[a].epoch, results[a].metrics = epoch, {**metrics, "layers": layers}
            blob, took = timed_snapshot(wanted, ls.arm_resume, a, epoch, results[a].metrics)
            reports.append(EpochReport(epoch, metrics, layers, hists, blob, took))
        report(reports)
    # Hand back each arm as its own FullyConnected.
    for a, r in enumerate(results):
        r.model.load_state_dict({n: v.cpu() for n, v in model.arm_state(a).items()})
        r.model.to(device)
    return results
