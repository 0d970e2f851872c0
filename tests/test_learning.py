"""Learning on ToyCMDP: every constrained algorithm, with and without SHAPO, reaches the known
constrained optimum (return 20 at cost 20, cost limit 20) within a stated tolerance.

Test settings per multiplier: the Lagrange multiplier ascends with SGD here (lr 0.05), whose step
is proportional to the violation. The reference library's default, Adam, moves the multiplier by
about its learning rate every epoch whatever the violation; since the cost advantage is centred
but not scaled, its pull on the policy shrinks with the policy's standard deviation, and Adam's
fixed-size steps chase that moving target in slow cycles that a short test cannot average over.
The PID multiplier gets a larger integral gain (ki 0.05 instead of 0.01): at the default gain its
integral is still climbing after 40 short epochs (cost about 18% over the limit).

Every run starts at sigma 0.61 (init_log_std -0.5) instead of the library's default sigma 1:
ToyCMDP's cost contains sigma^2, and from sigma 1 the 40 short epochs go into shrinking the noise
before the mean moves (CPO: return 15.7 at cost 19.7 from sigma 1, 18.5 at 20.1 from 0.61).

Test settings per algorithm, where its own settings need them: CRPO's tolerance is 0.5 instead
of 2.0 (the reference's, sized for Safety-Gym's limit of 25): with 2.0 it takes reward steps up to
Jc = 22, and its cost settles at 22.25, just over 10% above the limit of 20. RCPO's multiplier
also ascends with SGD, at lr 0.1: it weighs the raw cost advantage (lambda* = 0.5 exactly, the
penalty is in the return), Adam overshoots to about 0.93 and drives the cost to 9; with SGD the
primal-dual cycle must be short against the 10 judged epochs: at lr 0.02 the cost averages 17.1
(a fail), at 0.05 18.9 (a narrow pass), at 0.1 19.8.

Saute (Sootla et al. 2022) bounds the discounted cost of every episode, not the mean over
episodes, and is conservative here: early breaches (reward -1 once the budget is spent) shrink
the policy's standard deviation, and with it every later step, while the mean action sits below
the constrained optimum's (trpo-saute: return 12.5 at cost 8, 18.4 at 17.3 with SHAPO; ppo-saute
13.5 at 9.8, 15.5 at 12.8). Those algorithms are judged on staying within the budget at a return
of at least half the optimum's. That criterion does not see the reward replacement (checked
against hand values in test_saute.py): with it removed, trpo-saute still ends within the budget
(return 16.8 at cost 14.8), as the unscaled z drifting with the policy slows TRPO here (with a
budget so large that z stays near 1 it reaches plain TRPO's 40 at cost 80). ppo-saute's runs take
40-60 s (vanilla) and 240-300 s (SHAPO) here: they run in `make test-slow`.

Test settings per algorithm: CUP and FOCOPS, first-order with SHAPO on every minibatch, are the
slowest tests; minibatches of 250 (4 steps per epoch instead of 16) cut their time about 4x. With
fewer steps the policy's noise (sigma^2 is part of ToyCMDP's cost) shrinks too slowly from the
default sigma 0.61 (FOCOPS: return 18.0 at cost 20.3, 10% under the optimum), and in CUP, whose
multiplier acts only in the projection stage, 16 large steps per stage let the multiplier
overshoot (KL 0.18 in one epoch, return 16 at cost 15): both start at sigma 0.37
(init_log_std -1). CUP also starts from a mean of about 0 (orthogonal init with a 0.01 head):
from PyTorch's init, whose initial mean is off zero, it ends at return 17.6 at cost 18.3 (12%
under), against 19.1 at 20.2.
"""

import csv
import dataclasses

import pytest

from shapo_rl.algorithms import ALGORITHMS, apply_settings
from shapo_rl.config import ClipConfig, CriticConfig, MinibatchConfig, ShapoConfig, TrainConfig
from shapo_rl.envs import toy_cmdp_optimum
from shapo_rl.training import train

EPOCHS, LAST = 40, 10  # judge the mean of the last 10 of 40 epochs of 1,000 steps
TOLERANCE = 0.10  # relative, on both return and cost
START_LOG_STD = -0.5  # sigma 0.61 at the start (module docstring)
# Not here: the unsafe policies maximise cost (tests/test_strpo.py checks they reach the
# cost-maximising action), and strpo needs one (tests/test_strpo.py checks it reaches the optimum).
NOT_HERE = {"unsafe-trpo", "unsafe-dtrpo", "strpo"}
CONSTRAINED = sorted(name for name, entry in ALGORITHMS.items()
                     if getattr(entry.defaults, "multiplier", "constrained") != "none" and name not in NOT_HERE)
TEST_SETTINGS = {"lagrange": {"lagrange.optimizer": "sgd", "lagrange.lr": 0.05}, "pid": {"pid.ki": 0.05},
                 "crpo": {"tolerance": 0.5}, "rcpo": {"lagrange.optimizer": "sgd", "lagrange.lr": 0.1},
                 "cup": {"lagrange.optimizer": "sgd", "lagrange.lr": 0.05, "clip.minibatch_size": 250,
                         "model.init_log_std": -1.0, "model.actor_init": "orthogonal"},
                 "focops": {"lagrange.optimizer": "sgd", "lagrange.lr": 0.05, "minibatch.minibatch_size": 250,
                            "model.init_log_std": -1.0}}
WITHIN_BUDGET = {"trpo-saute", "ppo-saute"}
SLOW = {"ppo-saute"}


@pytest.mark.parametrize("algo", [pytest.param(a, marks=pytest.mark.slow) if a in SLOW else a for a in CONSTRAINED])
@pytest.mark.parametrize("shapo", [ShapoConfig(),
                                   ShapoConfig(geometry="fisher", radius=1e-3, critic_sam=True)],
                         ids=["vanilla", "shapo"])
def test_converges_to_the_constrained_optimum(tmp_path, algo, shapo):
    defaults = ALGORITHMS[algo].defaults
    settings = {"model.init_log_std": START_LOG_STD}
    settings.update(TEST_SETTINGS.get(algo) or TEST_SETTINGS.get(getattr(defaults, "multiplier", None), {}))
    settings.update({f"{f.name}.update_iters": 10 for f in dataclasses.fields(defaults)  # first-order epochs
                     if isinstance(getattr(defaults, f.name), (ClipConfig, MinibatchConfig))})
    config = apply_settings(TrainConfig(algo=algo, env="ToyCMDP-v0", steps=EPOCHS * 1000, steps_per_epoch=1000,
                                        num_envs=50, critic=CriticConfig(update_iters=5), shapo=shapo), settings)
    run = train(config, tmp_path / "run", progress=False)
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))[-LAST:]
    ret = sum(float(r["ep_return"]) for r in rows) / LAST
    cost = sum(float(r["ep_cost"]) for r in rows) / LAST
    best_return, best_cost, _ = toy_cmdp_optimum(20.0)
    if algo in WITHIN_BUDGET:
        assert cost <= best_cost * (1 + TOLERANCE) and ret >= best_return / 2
    else:
        assert ret == pytest.approx(best_return, rel=TOLERANCE)
        assert cost == pytest.approx(best_cost, rel=TOLERANCE)
