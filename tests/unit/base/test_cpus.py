"""The CPUs a process may use: affinity capped by the cgroup quota (v2 `cpu.max`, v1 CFS files)."""

from __future__ import annotations

import os

import pytest

from burnout_base.cpus import available_cpus, cgroup_cpu_quota

AFFINITY = len(os.sched_getaffinity(0))


def test_cgroup_v2_quota_is_quota_over_period(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5


def test_cgroup_v2_without_limit_has_no_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path) == 0.5


def test_cgroup_v1_unlimited_and_missing_files(tmp_path):
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path) is None


@pytest.mark.parametrize(("quota", "expected"), [("150000 100000", min(AFFINITY, 2)), ("10000 100000", 1)])
def test_available_cpus_rounds_the_quota_up_within_the_affinity(tmp_path, quota, expected):
    (tmp_path / "cpu.max").write_text(quota)
    assert available_cpus(tmp_path) == expected


def test_available_cpus_is_the_affinity_without_a_quota(tmp_path):
    assert available_cpus(tmp_path) == AFFINITY
