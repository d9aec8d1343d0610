"""The training objective, in one place: what a batch's loss is, its gradient with respect to
the network's outputs (for the stacked engine's hand-written backward), its sum over an
evaluation batch, and what counts as a correct answer.

Outputs are (K, B, C): K arms. Targets are (B,), shared by every arm, or (K, B), one row per arm;
both broadcast the same way, so arms fed different batches need no change here. Another task
(a regression's mean squared error, say) is one more class with these four methods, picked in
`objective_for`; nothing else names the loss.
"""

import torch
import torch.nn.functional as F

from store.spec import REGRESSION, TASK
from worker.config import TrainConfig


class CrossEntropy:
    """Classification: mean cross-entropy of the logits; accuracy counts argmax hits."""

    classifies = True  # whether accuracy means anything (else it is reported as null)

    @staticmethod
    def per_sample(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(K, B): each arm's loss on each sample."""
        k, classes = logits.shape[0], logits.shape[-1]
        flat = F.cross_entropy(
            logits.reshape(-1, classes), y.expand(k, -1).reshape(-1), reduction="none"
        )
        return flat.view(k, -1)

    def means(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(K,): each arm's training loss on the batch, differentiable."""
        return self.per_sample(logits, y).mean(1)

    def sums(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(K,): each arm's summed loss, for evaluation (divided by the split's size once)."""
        return self.per_sample(logits, y).sum(1)

    @staticmethod
    def means_and_grad(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(K,) mean losses and their gradient with respect to logits (K, B, C), without
        autograd: d(mean cross-entropy)/d(logits) = (softmax - one_hot) / B."""
        k, batch, classes = logits.shape
        logp = torch.log_softmax(logits, -1)
        loss = -logp.gather(2, y.expand(k, -1).unsqueeze(2)).squeeze(2).mean(1)
        grad = logp.exp_().sub_(F.one_hot(y, classes).to(logp.dtype)).div_(batch)
        return loss, grad

    @staticmethod
    def hits(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(K,): each arm's correct answers in the batch."""
        return (logits.argmax(-1) == y).sum(-1)


class MeanSquaredError:
    """Regression: nn.MSELoss's mean over every sample and output. Targets are (B, outputs)
    float, shared by every arm; no accuracy (`hits` counts nothing, reported as null)."""

    classifies = False

    @staticmethod
    def per_sample(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(K, B): each arm's squared error on each sample, averaged over the outputs."""
        return (out - y).pow(2).mean(-1)

    def means(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (out - y).pow(2).flatten(1).mean(1)

    def sums(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.per_sample(out, y).sum(1)

    @staticmethod
    def means_and_grad(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(K,) mean squared errors and their gradient 2 (out - y) / (B * outputs)."""
        diff = out - y
        loss = diff.pow(2).flatten(1).mean(1)
        return loss, diff.mul_(2.0 / (diff.shape[1] * diff.shape[2]))

    @staticmethod
    def hits(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.zeros(out.shape[0], dtype=torch.int64, device=out.device)


CROSS_ENTROPY = CrossEntropy()
MSE = MeanSquaredError()
Objective = CrossEntropy | MeanSquaredError


def objective_for(cfg: TrainConfig) -> Objective:
    """The loss every arm of cfg's experiment trains on (arms of one group share it): MSE for
    a regression task, else cross-entropy."""
    task = TASK.get(cfg.dataset)
    return MSE if task is not None and task.kind == REGRESSION else CROSS_ENTROPY
