import torch

from worker.models import FullyConnected, build_model
from worker.regularize import apply_penalties, penalized


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
