import math

import pytest

from shapo_rl.optim import (
    ConstantRadius,
    DecayRadius,
    PercentileRadius,
    implied_percentile,
    make_schedule,
)

Z_05 = -1.6448536269514729  # Phi^-1(0.05)


def test_percentile_radius_matches_hand_value() -> None:
    assert PercentileRadius(0.05).radius(3, 1000) == pytest.approx(Z_05**2 / 2000, rel=1e-12)
    assert PercentileRadius(0.5).radius(0, 10) == 0.0


def test_constant_and_decay_radius() -> None:
    assert ConstantRadius(1e-5).radius(7, 123) == 1e-5
    assert DecayRadius(1e-4).radius(0, 1) == 1e-4
    assert DecayRadius(1e-4).radius(3, 1) == pytest.approx(5e-5, rel=1e-15)


@pytest.mark.parametrize("p", [0.001, 0.05, 0.2, 0.45])
@pytest.mark.parametrize("n", [1, 1000, 20_000])
def test_implied_percentile_inverts_the_percentile_schedule(p: float, n: int) -> None:
    assert implied_percentile(PercentileRadius(p).radius(0, n), n) == pytest.approx(p, rel=1e-10)


def test_implied_percentile_hand_values() -> None:
    assert implied_percentile(0.0, 100) == 0.5
    # delta = 1e-5, N = 20000: sqrt(2 N delta) = sqrt(0.4); Phi(-0.632456) = 0.263545...
    expected = 0.5 * math.erfc(math.sqrt(0.4) / math.sqrt(2))
    assert implied_percentile(1e-5, 20_000) == pytest.approx(expected, rel=1e-14)
    assert implied_percentile(1e-5, 20_000) == pytest.approx(0.2635446, abs=1e-6)


def test_make_schedule_and_validation() -> None:
    assert make_schedule("constant", 1e-5, 0.05) == ConstantRadius(1e-5)
    assert make_schedule("percentile", 1e-5, 0.05) == PercentileRadius(0.05)
    assert make_schedule("decay", 1e-5, 0.05) == DecayRadius(1e-5)
    for bad in (0.0, 0.6, -0.1):
        with pytest.raises(ValueError, match="percentile"):
            PercentileRadius(bad)
    with pytest.raises(ValueError, match="radius"):
        ConstantRadius(-1.0)
    with pytest.raises(ValueError, match="radius"):
        DecayRadius(float("nan"))
    with pytest.raises(ValueError, match="n_samples"):
        PercentileRadius(0.05).radius(0, 0)
    with pytest.raises(ValueError, match="unknown schedule"):
        make_schedule("cosine", 1e-5, 0.05)  # type: ignore[arg-type]
