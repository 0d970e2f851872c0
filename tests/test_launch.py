"""The summary over seeds: mean and standard error."""

import math

import pytest

from shapo_rl.launch import mean_se


def test_mean_and_standard_error():
    assert mean_se([1.0, 2.0, 6.0]) == (3.0, pytest.approx(math.sqrt(7 / 3)))
    mean, se = mean_se([4.0])
    assert mean == 4.0 and math.isnan(se)
