"""worker.regularize: penalties and their gradients against hand computations, per-layer lambdas,
what weight decay touches in each optimizer, and proximal L1's exact zeros."""

import dataclasses

import torch
import torch.nn.functional as F

from tests.conftest import needs_real_mnist
from tests.unit.worker.arms import alone as run
from tests.unit.worker.arms import small
from worker.config import TrainConfig
from worker.models import FullyConnected, build_model
from worker.regularize import (
    apply_penalties,
    make_optimizer,
    penalized,
    penalty_terms,
)


def penalty(params, l1, l2):
    """The value the training loop adds (apply_penalties also adds the gradients)."""
    return apply_penalties([(params, l1, l2)] if (l1 or l2) else [])


def known_model() -> FullyConnected:
    model = FullyConnected(in_features=3, hidden=2, num_classes=2)
    with torch.no_grad():
        model.linear_1.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]))
        model.linear_1.bias.copy_(torch.tensor([10.0, -10.0]))
        model.linear_2.weight.copy_(torch.tensor([[-0.5, 2.0], [1.5, 0.0]]))
    return model


def test_l1_penalty_equals_hand_computation_over_weight_matrices():
    # sum |W|: layer 1: 1 + 2 + .5 + 0 + 3 + 1 = 7.5; layer 2: .5 + 2 + 1.5 + 0 = 4; total 11.5
    pen = penalty(penalized(known_model()), l1=0.01, l2=0.0)
    assert torch.isclose(pen, torch.tensor(0.115))


def test_l2_penalty_equals_hand_computation_over_weight_matrices():
    # sum W^2: layer 1: 1 + 4 + .25 + 0 + 9 + 1 = 15.25; layer 2: .25 + 4 + 2.25 + 0 = 6.5
    pen = penalty(penalized(known_model()), l1=0.0, l2=0.1)
    assert torch.isclose(pen, torch.tensor(2.175))


def test_elastic_net_is_the_sum_of_both():
    pen = penalty(penalized(known_model()), l1=0.01, l2=0.1)
    assert torch.isclose(pen, torch.tensor(0.115 + 2.175))


def test_biases_are_excluded_unless_asked():
    model = known_model()
    assert [p.shape for p in penalized(model)] == [(2, 3), (2, 2)]
    with_bias = penalty(penalized(model, include_bias=True), l1=1.0, l2=0.0)
    assert torch.isclose(with_bias, torch.tensor(11.5 + 20.0))


def test_zero_lambdas_add_nothing_at_all():
    assert penalty(penalized(known_model()), 0.0, 0.0) is None


def test_penalty_gradients_are_what_autograd_would_give():
    model = known_model()
    terms = [(penalized(model), 0.3, 0.2)]
    value = apply_penalties(terms)
    w = model.linear_1.weight.detach()
    assert torch.allclose(model.linear_1.weight.grad, 0.3 * torch.sign(w) + 2 * 0.2 * w)
    assert model.linear_1.bias.grad is None  # biases are not penalized
    reference = known_model()
    auto = sum(0.3 * p.abs().sum() + 0.2 * p.pow(2).sum() for p in penalized(reference))
    auto.backward()
    assert torch.isclose(value, auto.detach())
    for mine, theirs in zip(penalized(model), penalized(reference), strict=True):
        assert torch.allclose(mine.grad, theirs.grad)


def test_arms_start_from_identical_weights():
    a = build_model("mlp", (1, 28, 28), 10, 64, seed=3)
    b = build_model("mlp", (1, 28, 28), 10, 64, seed=3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    c = build_model("mlp", (1, 28, 28), 10, 64, seed=4)
    assert not torch.equal(a.linear_1.weight, c.linear_1.weight)


def test_per_layer_lambdas_equal_a_hand_computation():
    model = FullyConnected(3, 2, 2)
    with torch.no_grad():
        model.linear_1.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]))
        model.linear_2.weight.copy_(torch.tensor([[-0.5, 2.0], [1.5, 0.0]]))
    cfg = TrainConfig(l1_layers=(0.01, 0.0), l2_layers=(0.0, 0.1))
    # L1 on layer 1: 0.01 * 7.5; L2 on layer 2: 0.1 * (0.25 + 4 + 2.25)
    assert torch.isclose(apply_penalties(penalty_terms(model, cfg)), torch.tensor(0.075 + 0.65))


def test_include_bias_adds_biases_and_batch_norm_parameters():
    model = FullyConnected(4, 3, 2, batchnorm=True)
    names = {id(p): n for n, p in model.named_parameters()}
    assert [names[id(p)] for p in penalized(model)] == ["linear_1.weight", "linear_2.weight"]
    assert sorted(names[id(p)] for p in penalized(model, include_bias=True)) == [
        "bn_1.bias",
        "bn_1.weight",
        "linear_1.bias",
        "linear_1.weight",
        "linear_2.weight",
    ]


def test_sgd_weight_decay_is_an_l2_penalty_of_half_the_strength():
    torch.manual_seed(0)
    x, y = torch.randn(16, 1, 2, 2), torch.randint(0, 10, (16,))

    def step(cfg):
        model = build_model("mlp", (1, 2, 2), 10, 8, seed=1)
        opt = make_optimizer(cfg, model)
        F.cross_entropy(model(x), y).backward()
        apply_penalties(penalty_terms(model, cfg))
        opt.step()
        return model.state_dict()

    decayed = step(TrainConfig(optimizer="sgd", lr=0.1, weight_decay=0.2))
    penalized_ = step(TrainConfig(optimizer="sgd", lr=0.1, l2=0.1))
    for k in decayed:
        assert torch.allclose(decayed[k], penalized_[k], atol=1e-7), k


def test_weight_decay_leaves_biases_alone_unless_asked():
    model = build_model("mlp", (1, 2, 2), 10, 8, seed=1)
    groups = make_optimizer(TrainConfig(optimizer="adamw", weight_decay=0.1), model).param_groups
    assert [len(g["params"]) for g in groups] == [2, 1] and groups[1]["weight_decay"] == 0


def test_adamw_decay_shrinks_weights_where_adam_without_decay_does_not(data):
    plain, _ = run(small(optimizer="adamw"), data)
    decayed, _ = run(small(optimizer="adamw", weight_decay=0.5), data)
    assert decayed.model.linear_1.weight.abs().mean() < plain.model.linear_1.weight.abs().mean()


@needs_real_mnist
def test_proximal_l1_makes_exact_zeros_where_the_subgradient_makes_almost_none(tutorial_data):
    cfg = dataclasses.replace(TrainConfig(), epochs=10)
    _, sub = run(dataclasses.replace(cfg, arm="l1", l1=1e-4), tutorial_data)
    _, prox = run(dataclasses.replace(cfg, arm="prox", prox_l1=0.1), tutorial_data)
    sub_zero = sub[-1].layers["linear_1.weight"]["zero_frac"]
    prox_zero = prox[-1].layers["linear_1.weight"]["zero_frac"]
    assert prox_zero > 0.25 and sub_zero < 0.01, (prox_zero, sub_zero)
    assert prox[-1].metrics["val_acc"] > 0.8  # sparse, and still a good classifier
