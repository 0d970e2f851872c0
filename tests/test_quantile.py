"""The quantile cost critic of DTRPO: CVaR of the upper tail by hand, and a trained critic's CVaR
against the Monte-Carlo CVaR of a known cost-return law."""

import math

import pytest
import torch

from shapo_rl.models import QuantileCritic, quantile_huber_loss, upper_cvar


def test_upper_cvar_averages_the_top_mass_alpha():
    q = torch.tensor([[3.0, 1.0, 10.0, 2.0, 9.0, 4.0, 8.0, 5.0, 7.0, 6.0]])
    assert float(upper_cvar(q, 0.2)) == pytest.approx(9.5)  # mean of 10 and 9
    assert float(upper_cvar(q, 0.25)) == pytest.approx((10 + 9 + 0.5 * 8) / 2.5)  # half of the third
    assert float(upper_cvar(q, 1.0)) == pytest.approx(5.5)  # the whole law: its mean


def test_quantile_huber_loss_by_hand():
    # N = 2 (tau = 1/4, 3/4), one sample 1.0: u = (1.0, -2.0); Huber (kappa 1): 0.5, 1.5;
    # weights |tau - 1{u<0}|: 0.25, 0.25 -> 0.125 + 0.375
    loss = quantile_huber_loss(torch.tensor([[0.0, 3.0]]), torch.tensor([1.0]))
    assert float(loss) == pytest.approx(0.5)


def _fit(samples, quantiles=50, alpha=0.1, steps=400):
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 16-unit net: more threads only contend
    critic = QuantileCritic(1, (16,), quantiles, alpha)
    optimizer = torch.optim.Adam(critic.parameters(), lr=0.02)
    obs = torch.zeros(512, 1)
    for _ in range(steps):
        optimizer.zero_grad()
        quantile_huber_loss(critic.quantiles(obs), samples(512)).backward()
        optimizer.step()
    torch.set_num_threads(threads)
    with torch.no_grad():
        return float(critic(torch.zeros(1, 1)))


def _monte_carlo_cvar(samples, alpha=0.1, n=400_000):
    x = samples(n).sort(descending=True).values
    return float(x[: int(alpha * n)].mean())


@pytest.mark.parametrize("law", ["gaussian", "two-point"])
def test_trained_critic_cvar_matches_monte_carlo(law):
    """Costs from N(20, 5^2) (CVaR_0.1 = 20 + 5 pdf(z_0.9)/0.1 = 28.77) or from {0 w.p. 0.8, 40 w.p.
    0.2} (CVaR_0.1 = 40): the critic's CVaR within 3% of the Monte-Carlo value (50 quantile midpoints
    underestimate a Gaussian tail by about 2%)."""
    gen = torch.Generator().manual_seed(1)
    if law == "gaussian":
        samples = lambda n: 20 + 5 * torch.randn(n, generator=gen)  # noqa: E731
        assert _monte_carlo_cvar(samples) == pytest.approx(20 + 5 * math.exp(-1.2816**2 / 2) / math.sqrt(2 * math.pi) / 0.1,
                                                           rel=5e-3)
    else:
        samples = lambda n: 40.0 * (torch.rand(n, generator=gen) < 0.2)  # noqa: E731
    assert _fit(samples) == pytest.approx(_monte_carlo_cvar(samples), rel=0.03)
