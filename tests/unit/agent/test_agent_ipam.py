"""Pod IP allocation from the node's podCIDR."""

from __future__ import annotations

import pytest

from gitkube import errors
from gitkube.agent.ipam import PodIPAM


def test_distinct_addresses_persisted_and_released(tmp_path):
    ipam = PodIPAM("127.10.0.0/29")
    a = ipam.allocate("a", tmp_path / "a")
    b = ipam.allocate("b", tmp_path / "b")
    assert a == "127.10.0.2" and b == "127.10.0.3"
    assert ipam.allocate("a") == a
    assert (tmp_path / "a" / "pod-ip").read_text().strip() == a
    again = PodIPAM("127.10.0.0/29")  # an agent restart finds the address in the pod dir
    assert again.allocate("a", tmp_path / "a") == a
    ipam.release("a", tmp_path / "a")
    assert not (tmp_path / "a" / "pod-ip").exists()
    assert ipam.get("a") is None


def test_observed_addresses_are_not_handed_out_and_range_exhaustion():
    ipam = PodIPAM("127.10.0.0/29")  # .2 - .6 usable
    ipam.observe("old", "127.10.0.2")
    ipam.observe("elsewhere", "10.0.0.1")  # outside the range: ignored
    got = {ipam.allocate(str(i)) for i in range(4)}
    assert got == {"127.10.0.3", "127.10.0.4", "127.10.0.5", "127.10.0.6"}
    with pytest.raises(errors.RuntimeFailure):
        ipam.allocate("one-too-many")
    with pytest.raises(errors.ConfigError):
        PodIPAM("not-a-cidr")
