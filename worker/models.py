"""Models. Parameter names match the tutorial's classes so checkpoints load into them."""

import torch
from torch import nn


class FullyConnected(nn.Module):
    """The tutorial's network: 784 -> hidden -> 10, ReLU, second layer without bias."""

    def __init__(self, in_features: int = 784, hidden: int = 500, num_classes: int = 10):
        super().__init__()
        self.linear_1 = nn.Linear(in_features, hidden)
        self.relu = nn.ReLU()
        self.linear_2 = nn.Linear(hidden, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.relu(self.linear_1(x.flatten(1))))


def build_model(hidden: int, in_features: int, num_classes: int, seed: int) -> nn.Module:
    # Seeding right before construction makes every arm of an experiment start from bitwise-equal
    # weights: the comparison is between treatments, not initializations.
    torch.manual_seed(seed)
    return FullyConnected(in_features, hidden, num_classes)
