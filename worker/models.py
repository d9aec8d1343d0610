"""Models. Parameter names match the tutorial's classes so checkpoints load into them.

Every model lists its penalized layers in order (`layer_groups`): the weight matrix, and the
parameters that go with it (bias, batch norm) which are penalized only when asked.
"""

import math

import torch
from torch import nn

LayerGroup = tuple[str, nn.Parameter, list[nn.Parameter]]


class FullyConnected(nn.Module):
    """The tutorial's network: in -> hidden (x depth) -> classes, ReLU, last layer without bias.

    With depth 1 and no dropout or batch norm its state dict is exactly the tutorial's
    (linear_1.weight, linear_1.bias, linear_2.weight). Batch norm goes before the activation,
    dropout after it.
    """

    def __init__(
        self,
        in_features: int = 784,
        hidden: int = 500,
        num_classes: int = 10,
        depth: int = 1,
        dropout: float = 0.0,
        batchnorm: bool = False,
    ):
        super().__init__()
        self.depth = depth
        width = in_features
        for i in range(1, depth + 1):
            setattr(self, f"linear_{i}", nn.Linear(width, hidden))
            if batchnorm:  # consumes no random numbers: linear weights stay equal across arms
                setattr(self, f"bn_{i}", nn.BatchNorm1d(hidden))
            width = hidden
        setattr(self, f"linear_{depth + 1}", nn.Linear(width, num_classes, bias=False))
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for i in range(1, self.depth + 1):
            x = getattr(self, f"linear_{i}")(x)
            if hasattr(self, f"bn_{i}"):
                x = getattr(self, f"bn_{i}")(x)
            x = self.dropout(self.relu(x))
        return getattr(self, f"linear_{self.depth + 1}")(x)

    def layer_groups(self) -> list[LayerGroup]:
        groups = []
        for i in range(1, self.depth + 2):
            linear = getattr(self, f"linear_{i}")
            extras = [linear.bias] if linear.bias is not None else []
            if hasattr(self, f"bn_{i}"):
                extras += list(getattr(self, f"bn_{i}").parameters())
            groups.append((f"linear_{i}", linear.weight, extras))
        return groups


class SmallCNN(nn.Module):
    """conv(32) -> pool -> conv(64) -> pool -> linear(hidden) -> linear(classes), with ReLUs."""

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        hidden: int = 128,
        num_classes: int = 10,
        dropout: float = 0.0,
        batchnorm: bool = False,
    ):
        super().__init__()
        self.conv_1 = nn.Conv2d(in_channels, 32, 3, padding=1)
        self.conv_2 = nn.Conv2d(32, 64, 3, padding=1)
        side = image_size // 4
        self.linear_1 = nn.Linear(64 * side * side, hidden)
        self.linear_2 = nn.Linear(hidden, num_classes, bias=False)
        if batchnorm:
            self.bn_conv_1, self.bn_conv_2 = nn.BatchNorm2d(32), nn.BatchNorm2d(64)
            self.bn_1 = nn.BatchNorm1d(hidden)
        self.batchnorm = batchnorm
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.batchnorm
        x = self.conv_1(x)
        x = self.pool(self.relu(self.bn_conv_1(x) if bn else x))
        x = self.conv_2(x)
        x = self.pool(self.relu(self.bn_conv_2(x) if bn else x))
        x = self.linear_1(x.flatten(1))
        x = self.dropout(self.relu(self.bn_1(x) if bn else x))
        return self.linear_2(x)

    def layer_groups(self) -> list[LayerGroup]:
        groups = []
        for name, bn in (
            ("conv_1", "bn_conv_1"),
            ("conv_2", "bn_conv_2"),
            ("linear_1", "bn_1"),
            ("linear_2", None),
        ):
            layer = getattr(self, name)
            extras = [layer.bias] if layer.bias is not None else []
            if bn and hasattr(self, bn):
                extras += list(getattr(self, bn).parameters())
            groups.append((name, layer.weight, extras))
        return groups


class SimpleModel(nn.Module):
    """The L2 article's model: one linear layer, SimpleModel(10, 5)."""

    def __init__(self, input_size: int = 10, output_size: int = 5):
        super().__init__()
        self.linear = nn.Linear(input_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

    def layer_groups(self) -> list[LayerGroup]:
        return [("linear", self.linear.weight, [self.linear.bias])]


class SimpleNet(nn.Module):
    """The weight-decay lesson's network: Linear 20->64, ReLU, Linear 64->1.

    Layers are built in the lesson's order (fc1, then fc2), so after the same seed they draw the
    same initial weights from the global RNG.
    """

    def __init__(self, in_features: int = 20, hidden: int = 64, out_features: int = 1):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(x)))

    def layer_groups(self) -> list[LayerGroup]:
        return [(n, getattr(self, n).weight, [getattr(self, n).bias]) for n in ("fc1", "fc2")]


def build_model(
    kind: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    hidden: int,
    seed: int,
    depth: int = 1,
    dropout: float = 0.0,
    batchnorm: bool = False,
) -> nn.Module:
    """input_shape: (channels, height, width) of one image, or (features,) of a toy task's
    input; num_classes: the outputs (a regression's target width)."""
    # Seeding right before construction makes every arm of an experiment start from bitwise-equal
    # weights: the comparison is between treatments, not initializations.
    torch.manual_seed(seed)
    if kind == "simple_model":  # a toy task's vector inputs: input_shape is (features,)
        return SimpleModel(math.prod(input_shape), num_classes)
    if kind == "simple_net":
        return SimpleNet(math.prod(input_shape), hidden, num_classes)
    if kind == "cnn":
        c, h, _w = input_shape
        return SmallCNN(c, h, hidden, num_classes, dropout, batchnorm)
    in_features = 1
    for d in input_shape:
        in_features *= d
    return FullyConnected(in_features, hidden, num_classes, depth, dropout, batchnorm)
