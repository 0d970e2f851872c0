"""A tiny policy and batch whose losses the tests compute by hand (test_losses, test_cup_focops).

The policy's mean is mu = 0.5 tanh(obs_0) on its one action dimension (one hidden unit copies
obs_0, the output takes half of it, every other weight and bias is 0) and sigma = exp(-0.5).
"""

import torch

from shapo_rl.models import GaussianPolicy

OBS = torch.tensor([[0.3, 1.0], [-0.8, 2.0], [1.2, -1.0]], dtype=torch.float64)
ACTIONS = torch.tensor([[0.1], [-0.4], [0.9]], dtype=torch.float64)
OLD_LOG_PROB = torch.tensor([-0.9, -1.3, -0.7], dtype=torch.float64)
ADVANTAGE = torch.tensor([1.5, -2.0, 0.5], dtype=torch.float64)


def hand_policy() -> GaussianPolicy:
    """The policy above, in float64."""
    policy = GaussianPolicy(2, 1, (3,), init_log_std=-0.5).double()
    with torch.no_grad():
        for layer in policy.mean:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
                layer.bias.zero_()
        policy.mean[0].weight[0, 0] = 1.0
        policy.mean[-1].weight[0, 0] = 0.5
    return policy
