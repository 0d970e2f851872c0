"""sTRPO's step (eqs. 7-10 of the sTRPO paper) against an independent dense solve of the same
small problem: the direction F^-1 (g + lam phi) with lam the least weight >= lambda_2 |g|/|phi|
(natural norms) whose KL-boundary step reaches the margin, found here by bisection on the dense
margin instead of the closed form; its size from the radius; the backtracking that re-solves at
radii delta_1 r^(2k); and the most separating fallback step exactly when no radius qualifies."""

import dataclasses
import math

import pytest
import torch

from shapo_rl import keys
from shapo_rl.algorithms.protocol import Discounts, UpdateBatch, UpdateContext
from shapo_rl.algorithms.registry import make_run_env, with_algorithm_defaults
from shapo_rl.algorithms.strpo import STRPO, STRPOConfig, exclusion_weights
from shapo_rl.optim.exclusion_step import MARGIN_HEADROOM, exclusion_step, least_multiplier
from shapo_rl.config import ConfigError, PIDConfig, TrainConfig, TrustRegionConfig
from shapo_rl.envs import ObservationNormalizer
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import SharpnessAwareGradient, get_flat_params, set_flat_params
from shapo_rl.rollout.collector import RolloutCollector
from shapo_rl.rollout import standardize

N, OBS, ACT = 64, 3, 2
RATIO, ITERS, DAMPING = 0.8, 15, 0.1

DISCOUNTS = Discounts(gamma=0.99, cost_gamma=0.99, gae_lambda=0.95)


def _problem(seed, shift):
    torch.manual_seed(seed)
    # the instances the step was checked on: orthogonal init (mean about 0), sigma 0.61
    policy = GaussianPolicy(OBS, ACT, (4,), init_log_std=-0.5, init="orthogonal").double()
    unsafe = GaussianPolicy(OBS, ACT, (4,), init_log_std=-0.5, init="orthogonal").double()
    with torch.no_grad():
        unsafe.mean[-1].bias.add_(shift)
        obs = torch.randn(N, OBS, dtype=torch.float64)
        loc, scale = policy(obs)
        actions = loc + scale * torch.randn(N, ACT, dtype=torch.float64)
        old_log_prob = policy.distribution(obs).log_prob(actions)
    batch = UpdateBatch(obs, actions, old_log_prob, loc, scale, torch.randn(N, dtype=torch.float64),
                        torch.randn(N, dtype=torch.float64), torch.zeros(N, 1), torch.zeros(N, 1),
                        episode_cost=math.nan, cost_limit=1.0)
    return policy, unsafe.requires_grad_(False), batch


def _context(policy):
    return UpdateContext(policy=policy, optimizers=[], gradient=SharpnessAwareGradient(policy.parameters(), "none"),
                         reduce=lambda x: x, total=None, backward=None, update_critics=lambda batch: {})


def _dense_expectation(policy, unsafe, batch, cfg):
    """The same step with a dense Fisher (the Hessian of the mean KL) and a linear solve."""
    params = list(policy.parameters())
    theta = get_flat_params(params)
    sizes = [p.numel() for p in params]

    def at(flat):
        chunks = flat.split(sizes)
        return [c.view_as(p) for c, p in zip(chunks, params)]

    def log_prob(flat):
        out = torch.func.functional_call(policy, dict(zip([n for n, _ in policy.named_parameters()], at(flat))),
                                         (batch.obs,))
        return torch.distributions.Independent(torch.distributions.Normal(*out), 1).log_prob(batch.actions)

    def kl(flat):
        loc, scale = torch.func.functional_call(
            policy, dict(zip([n for n, _ in policy.named_parameters()], at(flat))), (batch.obs,))
        old = torch.distributions.Independent(torch.distributions.Normal(batch.old_loc, batch.old_scale), 1)
        return torch.distributions.kl_divergence(old, torch.distributions.Independent(
            torch.distributions.Normal(loc, scale), 1)).mean()

    advantage = standardize(batch.reward_advantage)  # lambda (PID init 0) = 0: the joint advantage is z(A_r)
    g = torch.func.grad(lambda f: (torch.exp(log_prob(f) - batch.old_log_prob) * advantage).mean())(theta)
    w = (unsafe.distribution(batch.obs).log_prob(batch.actions) - batch.old_log_prob).exp().clamp(max=cfg.ratio_clip)
    phi = -torch.func.jacrev(log_prob)(theta).mul(w[:, None]).mean(0)
    fisher = torch.func.hessian(kl)(theta) + DAMPING * torch.eye(theta.numel(), dtype=torch.float64)
    x, p = torch.linalg.solve(fisher, g), torch.linalg.solve(fisher, phi)
    target = cfg.exclusion_margin * (1 + MARGIN_HEADROOM)

    def step(lam, radius):
        d = x + lam * p
        return math.sqrt(2 * radius / float(d @ fisher @ d)) * d

    def solve(radius):
        """The least lam >= lambda_2 |g|/|phi| whose step reaches the margin, by bisection."""
        low = cfg.exclusion_weight * math.sqrt(float(g @ x) / float(phi @ p))
        if float(phi @ step(low, radius)) >= target:
            return step(low, radius)
        high = low + 1.0
        while float(phi @ step(high, radius)) < target:
            high *= 2
            if high > 1e12:
                return None
        for _ in range(200):
            mid = (low + high) / 2
            low, high = (mid, high) if float(phi @ step(mid, radius)) < target else (low, mid)
        return step(high, radius)

    for k in range(ITERS):
        s = solve(cfg.trust_region.max_kl * RATIO ** (2 * k))
        if s is None:
            break
        if float(kl(theta + s)) <= cfg.trust_region.max_kl and float(phi @ s) >= cfg.exclusion_margin:
            return theta + s, False, phi, s
    separating = math.sqrt(2 * cfg.trust_region.max_kl / float(phi @ p)) * p
    for k in range(ITERS):
        s = RATIO**k * separating
        if float(kl(theta + s)) <= cfg.trust_region.max_kl:
            return theta + s, True, phi, s
    return theta, True, phi, torch.zeros_like(theta)


CASES = [(seed, shift, weight, margin) for seed in range(3)
         for shift, weight, margin in ((0.5, 1.0, 1e-4), (0.5, 0.01, 1e-4), (0.0, 1.0, 1e-2), (1.0, 0.0, 0.05),
                                                (1.0, 1.0, 0.14), (0.0, 1.0, 0.1))]


@pytest.mark.parametrize("seed,shift,weight,margin", CASES)
def test_step_matches_a_dense_solve(seed, shift, weight, margin):
    policy, unsafe, batch = _problem(seed, shift)
    cfg = STRPOConfig(trust_region=TrustRegionConfig(cg_iters=60, damping=DAMPING), exclusion_weight=weight,
                      exclusion_margin=margin, pid=PIDConfig(init=0.0))
    expected, fallback, phi, s = _dense_expectation(policy, unsafe, batch, cfg)
    theta_k = get_flat_params(list(policy.parameters()))
    algorithm = STRPO(cfg, cost_limit=1.0, discounts=DISCOUNTS, unsafe_policy=unsafe)
    metrics = algorithm.update(batch, _context(policy))
    theta = get_flat_params(list(policy.parameters()))
    # CG stops at a squared residual of 1e-10, so the step agrees to that precision, not bit for bit
    assert float((theta - expected).norm()) <= 1e-4 * float(s.norm()) + 1e-12
    assert metrics["fallback"] == float(fallback)
    assert metrics["kl"] <= cfg.trust_region.max_kl
    if not fallback:  # the exclusion constraint holds after every accepted step
        assert float(phi @ (theta - theta_k)) >= margin
        assert metrics["exclusion_margin"] == pytest.approx(float(phi @ s), rel=1e-4)


def test_the_cases_cover_both_outcomes():
    outcomes = {_dense_expectation(*_problem(seed, shift), STRPOConfig(
        trust_region=TrustRegionConfig(damping=DAMPING), exclusion_weight=weight, exclusion_margin=margin,
        pid=PIDConfig(init=0.0)))[1] for seed, shift, weight, margin in CASES}
    assert outcomes == {True, False}


def test_fallback_fires_exactly_when_no_backtrack_is_feasible():
    """Constructed: a margin no step of KL delta_1 can reach (phi^T s <= |phi|_{F^-1} sqrt(2 delta_1))
    forces the fallback, which still moves away from pi_unsafe; margin 0 with the step along phi
    alone (g = 0 by a zero advantage) never does."""
    policy, unsafe, batch = _problem(0, 0.5)
    theta_k = get_flat_params(list(policy.parameters()))
    cfg = STRPOConfig(exclusion_margin=1e3, pid=PIDConfig(init=0.0))
    metrics = STRPO(cfg, cost_limit=1.0, discounts=DISCOUNTS, unsafe_policy=unsafe).update(batch, _context(policy))
    assert metrics["fallback"] == 1.0 and metrics["trust_region_accepted"] == 1.0
    assert metrics["exclusion_margin"] > 0  # the most separating step: further from pi_unsafe
    set_flat_params(list(policy.parameters()), theta_k)
    zero = UpdateBatch(**{**batch.__dict__, "reward_advantage": torch.ones(N, dtype=torch.float64)})
    metrics = STRPO(STRPOConfig(exclusion_margin=0.0, pid=PIDConfig(init=0.0)), cost_limit=1.0, discounts=DISCOUNTS,
                    unsafe_policy=unsafe).update(zero, _context(policy))
    assert metrics["fallback"] == 0.0 and metrics["exclusion_margin"] > 0


def test_trust_region_fallback_is_trpos_step_where_no_radius_qualifies():
    """With ``fallback="trust-region"`` an infeasible margin gives TRPO's step: the first
    sqrt(2 delta_1 / g^T F^-1 g) F^-1 g r^k (dense solve) whose KL is within delta_1 and whose
    surrogate improves; a feasible margin gives the default's step, bit for bit."""
    cfg = STRPOConfig(trust_region=TrustRegionConfig(cg_iters=60, damping=DAMPING), exclusion_margin=1e3,
                      pid=PIDConfig(init=0.0), fallback="trust-region")
    policy, unsafe, batch = _problem(1, 0.5)
    params = list(policy.parameters())
    theta_k = get_flat_params(params)
    names = [n for n, _ in policy.named_parameters()]
    sizes = [p.numel() for p in params]

    def call(flat):
        weights = [c.view_as(p) for c, p in zip(flat.split(sizes), params)]
        return torch.func.functional_call(policy, dict(zip(names, weights)), (batch.obs,))

    def kl(flat):
        old = torch.distributions.Independent(torch.distributions.Normal(batch.old_loc, batch.old_scale), 1)
        return torch.distributions.kl_divergence(old, torch.distributions.Independent(
            torch.distributions.Normal(*call(flat)), 1)).mean()

    advantage = standardize(batch.reward_advantage)

    def surrogate(flat):
        log_prob = torch.distributions.Independent(torch.distributions.Normal(*call(flat)), 1).log_prob(batch.actions)
        return (torch.exp(log_prob - batch.old_log_prob) * advantage).mean()

    g = torch.func.grad(surrogate)(theta_k)
    fisher = torch.func.hessian(kl)(theta_k) + DAMPING * torch.eye(theta_k.numel(), dtype=torch.float64)
    x = torch.linalg.solve(fisher, g)
    full = math.sqrt(2 * cfg.trust_region.max_kl / float(g @ x)) * x
    k = next(k for k in range(ITERS) if float(kl(theta_k + RATIO**k * full)) <= cfg.trust_region.max_kl
             and float(surrogate(theta_k + RATIO**k * full)) > float(surrogate(theta_k)))
    metrics = STRPO(cfg, cost_limit=1.0, discounts=DISCOUNTS, unsafe_policy=unsafe).update(batch, _context(policy))
    assert metrics["fallback"] == 1.0 and metrics["trust_region_accepted"] == 1.0 and metrics["backtracks"] == k
    step = get_flat_params(params) - theta_k
    assert float((step - RATIO**k * full).norm()) <= 1e-4 * float(full.norm())
    assert metrics["actor_loss"] < -float(surrogate(theta_k))  # the surrogate improved
    # the default fallback on the same problem steps elsewhere: along F^-1 phi, not F^-1 g
    set_flat_params(params, theta_k)
    STRPO(dataclasses.replace(cfg, fallback="separating"), cost_limit=1.0, discounts=DISCOUNTS,
          unsafe_policy=unsafe).update(batch, _context(policy))
    assert float((get_flat_params(params) - theta_k - step).norm()) > 1e-3 * float(step.norm())
    # feasible: both fallbacks take the same exclusion step
    steps = []
    for fallback in ("separating", "trust-region"):
        set_flat_params(params, theta_k)
        STRPO(dataclasses.replace(cfg, exclusion_margin=1e-4, fallback=fallback), cost_limit=1.0, discounts=DISCOUNTS,
              unsafe_policy=unsafe).update(batch, _context(policy))
        steps.append(get_flat_params(params) - theta_k)
    assert torch.equal(steps[0], steps[1])


def test_trust_region_fallback_backtracks_until_the_surrogate_improves():
    """Closed form: F = I, g = e_0, phi = 1e-6 e_1 (eq. 8 infeasible at delta_2 = 1e-4), loss
    -t + 10 t^2 along e_0. TRPO's step has length sqrt(2 delta_1) = 0.2, where the loss is worse
    (0.2 > 0); the first improving fraction 0.8^k needs 0.2 * 0.8^k < 0.1, i.e. k = 4."""
    theta = torch.zeros(2, dtype=torch.float64)

    def evaluate():
        t = theta[0]
        return -t + 10 * t * t, 0.5 * theta.dot(theta), 1e-6 * theta[1]

    g, phi = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1e-6], dtype=torch.float64)
    _, _, result = exclusion_step([theta], g, phi, lambda v: v, evaluate, max_kl=0.02, margin=1e-4, weight=1.0,
                                  fallback="trust-region")
    assert result.fallback and result.accepted and result.steps_taken == 4
    assert torch.allclose(theta, torch.tensor([0.2 * 0.8**4, 0.0], dtype=torch.float64), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="fallback must be one of"):
        exclusion_step([theta], g, phi, lambda v: v, evaluate, max_kl=0.02, margin=1e-4, weight=1.0, fallback="reverse")


def test_an_unknown_fallback_is_a_config_error():
    with pytest.raises(ConfigError, match="fallback must be one of separating, trust-region"):
        STRPOConfig(fallback="reverse")


def test_exclusion_weights_clip_and_count():
    w, rate = exclusion_weights(torch.log(torch.tensor([0.5, 2.0, 20.0, 40.0])), torch.zeros(4), clip=10.0)
    assert torch.allclose(w, torch.tensor([0.5, 2.0, 10.0, 10.0])) and rate == 0.5


@pytest.mark.parametrize("joint", [True, False])
def test_joint_advantage_is_z_reward_minus_lambda_z_cost(joint):
    """Eq. (6) with lambda = 0.5 (PID init, no update yet); plain z(A_r) with the switch off."""
    policy, _, batch = _problem(0, 0.0)
    algorithm = STRPO(STRPOConfig(joint_advantage=joint, pid=PIDConfig(init=0.5)), cost_limit=1.0, discounts=DISCOUNTS)
    z = lambda x: (x - x.mean()) / (x.std() + 1e-8)  # noqa: E731
    expected = z(batch.reward_advantage) - (0.5 * z(batch.cost_advantage) if joint else 0.0)
    torch.testing.assert_close(algorithm.joint_advantage(batch, _context(policy)), expected)


def test_unsafe_policy_sees_raw_states_through_its_own_normaliser():
    """batch.obs is normalised by the run's statistics; pi_unsafe is evaluated on the rollout's raw
    states (batch.raw_obs) normalised by the unsafe run's (frozen) statistics."""
    policy, unsafe, batch = _problem(0, 0.5)
    unsafe = unsafe.float()  # as in a run: float32 networks and observations
    raw = 3.0 + 2.0 * torch.randn(N, OBS)
    run_norm, unsafe_norm = ObservationNormalizer(OBS), ObservationNormalizer(OBS)
    run_norm.update(raw)
    unsafe_norm.update(raw[: N // 2] * 0.5)
    batch = UpdateBatch(**{**batch.__dict__, "obs": run_norm.normalize(raw), "actions": batch.actions.float(),
                           "raw_obs": raw})
    algorithm = STRPO(STRPOConfig(), cost_limit=1.0, discounts=DISCOUNTS, unsafe_policy=unsafe, unsafe_normalizer=unsafe_norm)
    expected = unsafe.distribution(unsafe_norm.normalize(raw)).log_prob(batch.actions)
    torch.testing.assert_close(algorithm.unsafe_log_prob(batch), expected)


@pytest.mark.parametrize("algo", ["strpo", "trpo-pid"])
def test_only_strpo_rollouts_keep_the_raw_observations(algo):
    """ToyCMDP's raw observation is [t / H, u]: the rollout keeps it exactly (t / H on its grid)
    next to the normalised one, which is the normaliser's view of it; other algorithms keep none."""
    config = with_algorithm_defaults(TrainConfig(algo=algo, env="ToyCMDP-v0", steps_per_epoch=200, num_envs=10,
                                                 steps=200))
    norm = ObservationNormalizer()
    rollout = RolloutCollector(make_run_env(config, num_envs=10, obs_normalizer=norm), GaussianPolicy(2, 1, (4,)),
                               200).rollout()
    if algo != "strpo":
        assert keys.RAW_OBSERVATION not in rollout.keys()
        return
    raw = rollout[keys.RAW_OBSERVATION]
    torch.testing.assert_close(raw[..., 0] * 20, (raw[..., 0] * 20).round())
    assert raw[..., 0].max() > 0 and bool((raw[..., 1].abs() <= 1).all())
    last = rollout["next"][:, -1]  # the last observation, normalised with the final statistics
    torch.testing.assert_close(last[keys.OBSERVATION], norm.normalize(last[keys.RAW_OBSERVATION]))


@pytest.mark.parametrize("seed", range(5))
def test_least_multiplier_puts_the_step_on_the_margin(seed):
    """For a random SPD F and vectors g, phi: the closed-form multiplier's KL-boundary step
    s = sqrt(2 delta / d^T F d) d, d = F^-1 (g + lam phi), has margin phi^T s = delta_2 exactly
    (when the TRPO step's is below it), and any smaller lam falls short."""
    gen = torch.Generator().manual_seed(seed)
    root = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    fisher = root @ root.T + 0.1 * torch.eye(6, dtype=torch.float64)
    g, phi = torch.randn(6, generator=gen, dtype=torch.float64), torch.randn(6, generator=gen, dtype=torch.float64)
    x, p = torch.linalg.solve(fisher, g), torch.linalg.solve(fisher, phi)
    a, b, c = float(g @ x), float(phi @ x), float(phi @ p)
    max_kl = 0.01
    margin = 0.5 * math.sqrt(2 * max_kl * c)  # reachable: half the most separating step's

    def margin_at(lam):
        d = x + lam * p
        return float(phi @ d) * math.sqrt(2 * max_kl / float(d @ fisher @ d))

    lam = least_multiplier(a, b, c, margin, max_kl)
    if margin_at(0.0) >= margin:
        assert lam == 0.0
    else:
        assert margin_at(lam) == pytest.approx(margin, rel=1e-9) and margin_at(0.99 * lam) < margin
    assert least_multiplier(a, b, c, 1.01 * math.sqrt(2 * max_kl * c), max_kl) is None  # out of reach
