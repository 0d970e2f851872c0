"""How many cores a run may use: the CPU affinity, capped by a control group's CPU quota (a
container that sees its host's cores but runs on two), read from cgroup v2 or v1 files."""

from __future__ import annotations

import os

import pytest

from shapo_rl.envs.workers import available_cores, cgroup_cpu_limit


def _v2(tmp_path, text):
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def _v1(tmp_path, quota, period):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(f"{period}\n")
    return tmp_path


@pytest.mark.parametrize(("text", "cores"), [("200000 100000\n", 2.0), ("150000 100000", 1.5), ("max 100000\n", None)])
def test_cgroup_v2_quota_in_cores(tmp_path, text, cores):
    assert cgroup_cpu_limit(_v2(tmp_path, text)) == cores


@pytest.mark.parametrize(("quota", "period", "cores"), [(200000, 100000, 2.0), (50000, 100000, 0.5), (-1, 100000, None)])
def test_cgroup_v1_quota_in_cores(tmp_path, quota, period, cores):
    assert cgroup_cpu_limit(_v1(tmp_path, quota, period)) == cores


def test_no_or_unreadable_cgroup_files_mean_no_limit(tmp_path):
    assert cgroup_cpu_limit(tmp_path) is None
    assert cgroup_cpu_limit(_v2(tmp_path, "garbage")) is None


def test_a_quota_caps_the_affinity_rounded_up_and_never_below_one(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert available_cores(tmp_path) == 64  # no quota: the affinity
    assert available_cores(_v2(tmp_path, "150000 100000")) == 2
    assert available_cores(_v2(tmp_path, "1000 100000")) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert available_cores(_v2(tmp_path, "800000 100000")) == 1  # the quota never raises the affinity
