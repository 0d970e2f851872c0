"""The PID Lagrange multiplier: hand-computed sequences, the derivative's delay, clamps, resume."""

import io

import pytest
import torch

from shapo_rl.constraints import PIDLagrangian

COSTS = [40, 40, 35, 30, 10, 0, 0, 0, 0, 60, 60, 60, 25, 25, 5, 5, 5, 5, 80, 20]


def _by_hand(costs, d, kp=0.1, ki=0.01, kd=0.01, delay=10, a_p=0.95, a_d=0.95,
             sum_norm=True, diff_norm=False, penalty_max=100.0, init=0.001):
    """Stooke et al.'s Algorithm 2 with EMAs, re-derived from scratch: (lambda, I, D) per update."""
    integral, p_term, smoothed = init, 0.0, 0.0
    smoothed_history = []  # J_D after each update; J_D before the first update counts as 0
    trace = []
    for k, cost in enumerate(costs):
        error = cost - d
        integral = integral + ki * error
        if integral < 0:
            integral = 0.0
        if diff_norm and integral > 1:
            integral = 1.0
        p_term = a_p * p_term + (1 - a_p) * error
        smoothed = a_d * smoothed + (1 - a_d) * cost
        delayed = smoothed_history[k - delay] if k >= delay else 0.0
        smoothed_history.append(smoothed)
        derivative = smoothed - delayed if smoothed > delayed else 0.0
        lam = kp * p_term + integral + kd * derivative
        lam = lam if lam > 0 else 0.0
        if diff_norm:
            lam = lam if lam < 1 else 1.0
        elif not sum_norm:
            lam = lam if lam < penalty_max else penalty_max
        trace.append((lam, integral, derivative))
    return trace


def _run(pid, costs):
    out = []
    for cost in costs:
        pid.update(cost)
        out.append(pid.multiplier)
    return out


def test_first_updates_by_hand_with_the_reference_defaults():
    pid = PIDLagrangian(cost_limit=25.0)
    assert pid.multiplier == 0.001  # init, before any update
    # e = 15: I = 0.001 + 0.15, Delta_p = 0.05 * 15, J_D = 0.05 * 40, D = J_D - 0.
    pid.update(40.0)
    assert pid.multiplier == pytest.approx(0.1 * 0.75 + 0.151 + 0.01 * 2.0, abs=1e-15)  # 0.246
    # I = 0.301, Delta_p = 0.95 * 0.75 + 0.75 = 1.4625, J_D = 0.95 * 2 + 2 = 3.9, D = 3.9 - 0.
    pid.update(40.0)
    assert pid.multiplier == pytest.approx(0.48625, abs=1e-15)


def test_integral_starts_from_init():
    pid = PIDLagrangian(cost_limit=10.0, kp=0.0, ki=0.0, kd=0.0, init=0.3)
    pid.update(50.0)
    assert pid.multiplier == pytest.approx(0.3, abs=1e-15)


@pytest.mark.parametrize(
    "settings",
    [
        {},  # the reference's defaults
        dict(kp=0.5, ki=0.02, kd=0.3, delay=3, a_p=0.8, a_d=0.6),
        dict(kp=0.5, ki=0.02, kd=0.3, delay=4, sum_norm=False, penalty_max=0.7),
        dict(kp=0.05, ki=0.05, kd=0.1, delay=2, a_p=0.5, diff_norm=True),
    ],
)
def test_twenty_updates_follow_the_equations(settings):
    trace = _by_hand(COSTS, 25.0, **settings)
    names = dict(delay="derivative_delay", a_p="p_ema", a_d="d_ema")
    pid = PIDLagrangian(25.0, **{names.get(k, k): v for k, v in settings.items()})
    for k, (cost, (lam, integral, _)) in enumerate(zip(COSTS, trace)):
        pid.update(cost)
        assert pid.multiplier == pytest.approx(lam, rel=1e-12, abs=1e-15), k
        assert float(pid.integral) == pytest.approx(integral, rel=1e-12, abs=1e-15), k
    lams, integrals, derivatives = zip(*trace)
    assert 0.0 in integrals  # the sequence drives the integral onto its clamp at 0 ...
    assert max(integrals[integrals.index(0.0):]) > 0  # ... and back up
    assert max(derivatives) > 0
    if settings:  # short delays and faster EMAs also clip D at 0 (a falling cost)
        assert derivatives.count(0.0) >= 2
    if settings.get("sum_norm") is False:
        assert 0.7 in lams and max(lams) == 0.7
    if settings.get("diff_norm"):
        assert 1.0 in lams and 1.0 in integrals


def test_jump_shows_in_the_derivative_for_exactly_the_delay():
    # No smoothing, P and I off: lambda = D = max(0, Jc_k - Jc_{k-3}), Jc before the start = 0.
    pid = PIDLagrangian(0.0, kp=0.0, ki=0.0, kd=1.0, derivative_delay=3, p_ema=0.0, d_ema=0.0, init=0.0)
    costs = [5, 5, 5, 5, 5, 9, 9, 9, 9, 9, 2, 2, 2, 2, 2, 7]
    assert _run(pid, costs) == [5, 5, 5, 0, 0, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0, 5]


def test_integral_is_clamped_at_zero():
    pid = PIDLagrangian(10.0, kp=0.0, ki=1.0, kd=0.0, init=0.5)
    # I: 0.5 - 1 -> 0, 0 - 5 -> 0, 0, 0 + 2, 2 + 3, 5 - 6 -> 0 (without the clamp: all below 0).
    assert _run(pid, [9, 5, 5, 12, 13, 4]) == [0, 0, 0, 2, 5, 0]


def test_penalty_max_caps_lambda_only_without_normalisation():
    costs = [2, 2, 2, 2, 0, 0]  # d = 1: I = 0.1, 0.2, 0.3, 0.4, 0.3, 0.2
    capped = PIDLagrangian(1.0, kp=0.0, ki=0.1, kd=0.0, init=0.0, sum_norm=False, penalty_max=0.25)
    assert _run(capped, costs) == pytest.approx([0.1, 0.2, 0.25, 0.25, 0.25, 0.2])
    summed = PIDLagrangian(1.0, kp=0.0, ki=0.1, kd=0.0, init=0.0, sum_norm=True, penalty_max=0.25)
    assert _run(summed, costs) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.3, 0.2])


def test_diff_norm_clamps_integral_and_lambda_to_one():
    pid = PIDLagrangian(1.0, kp=0.0, ki=1.0, kd=0.0, init=0.0, diff_norm=True, sum_norm=False)
    # I: 0.5, 2.5 -> 1, 6 -> 1, 1 - 0.5, 0.5 - 0.75 -> 0 (unclamped I would keep lambda at 1).
    assert _run(pid, [1.5, 3, 6, 0.5, 0.25]) == [0.5, 1, 1, 0.5, 0]
    pid = PIDLagrangian(1.0, kp=1.0, ki=1.0, kd=0.0, p_ema=0.0, init=0.0, diff_norm=True)
    pid.update(3.0)  # P = 2, I = 1: lambda = 3, clamped
    assert pid.multiplier == 1.0


def test_combination_follows_the_normalisation():
    adv_r, adv_c = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.5, 1.0, -3.0])
    settings = {
        (True, False): lambda lam: (adv_r - lam * adv_c) / (1 + lam),
        (False, True): lambda lam: (1 - lam) * adv_r - lam * adv_c,
        (True, True): lambda lam: (1 - lam) * adv_r - lam * adv_c,
        (False, False): lambda lam: adv_r - lam * adv_c,
    }
    for (sum_norm, diff_norm), expected in settings.items():
        pid = PIDLagrangian(0.0, kp=0.0, ki=0.25, kd=0.0, init=0.0, sum_norm=sum_norm, diff_norm=diff_norm)
        pid.update(1.0)  # lambda = 0.25
        assert pid.multiplier == 0.25
        torch.testing.assert_close(pid.combine(adv_r, adv_c), expected(0.25))


def test_state_dict_round_trip_continues_the_sequence():
    settings = dict(kp=0.5, ki=0.02, kd=0.3, derivative_delay=4, p_ema=0.8, d_ema=0.6)
    pid = PIDLagrangian(25.0, **settings)
    _run(pid, COSTS[:12])  # past the delay window: the saved window is full and rolling
    buffer = io.BytesIO()
    torch.save(pid.state_dict(), buffer)
    buffer.seek(0)
    restored = PIDLagrangian(25.0, **settings)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.multiplier == pid.multiplier
    rising = [30, 45, 70, 90, 95, 20, 60, 100]
    assert _run(restored, rising) == _run(pid, rising)


def test_saved_window_longer_than_the_delay_is_refused():
    full = PIDLagrangian(25.0, derivative_delay=4)
    _run(full, COSTS[:6])
    with pytest.raises(ValueError, match="window"):
        PIDLagrangian(25.0, derivative_delay=3).load_state_dict(full.state_dict())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(cost_limit=-1.0), "cost limit"),
        (dict(kp=-0.1), "kp"),
        (dict(ki=-0.1), "ki"),
        (dict(kd=-0.1), "kd"),
        (dict(derivative_delay=0), "derivative_delay"),
        (dict(p_ema=1.0), "p_ema"),
        (dict(d_ema=-0.1), "d_ema"),
        (dict(penalty_max=0.0), "penalty_max"),
        (dict(init=-0.001), "initial"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    kwargs = {"cost_limit": 25.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        PIDLagrangian(**kwargs)
