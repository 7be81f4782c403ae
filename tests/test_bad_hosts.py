"""A host built in Python is checked as a host file is: a ConfigError naming the key path,
never an IndexError or a silently wrong machine."""

from __future__ import annotations

import pytest

from taskletsim import ConfigError
from taskletsim.core.sim import Simulation
from taskletsim.scenarios import get_scenario, resolve_scenario_params
from taskletsim.scenarios.host import (
    MAX_VCPUS,
    DeviceSpec,
    GuestSpec,
    HostSpec,
    build_host,
    spec_params,
)


def _params() -> dict[str, object]:
    spec = get_scenario("small-2socket")
    return spec_params(resolve_scenario_params(spec, "rfc-percpu", {}), "rfc-percpu")


@pytest.mark.parametrize(
    ("guests", "path"),
    [
        ((GuestSpec("g", "busy", (99,)),), "guests[0].cpus[0]: 99"),
        ((GuestSpec("g", "sleepy", (0,)),), "guests[0].workload: 'sleepy'"),
        ((GuestSpec("g", "busy", (0,)), GuestSpec("g", "idle", (1,))), "guests[1].name: 'g'"),
        ((), "guests: []"),
        ((GuestSpec("g", "busy", (0,), (), -1),), "guests[0].devices_per_vcpu: -1"),
        ((GuestSpec("g", "busy", (0,), (1,)),), "guests[0].cpus[0]: 0"),
        ((GuestSpec("g", "busy", (0,), devices=(DeviceSpec(vcpu=3),)),), "devices[0].vcpu: 3"),
        ((GuestSpec("g", "idle", (0,) * (MAX_VCPUS + 1)),), f"{MAX_VCPUS + 1} vCPUs"),
    ],
)
def test_a_bad_host_spec_names_its_key_path(guests: tuple[GuestSpec, ...], path: str) -> None:
    spec = HostSpec(1, 2, 1, _params(), guests)
    with pytest.raises(ConfigError) as caught:
        build_host(Simulation(0), spec, "rfc-percpu")
    assert str(caught.value).startswith("host: ") and path in str(caught.value)


def test_a_good_host_spec_builds() -> None:
    spec = HostSpec(1, 2, 1, _params(), (GuestSpec("g", "busy", (0, 1), devices_per_vcpu=1),))
    machine = build_host(Simulation(0), spec, "rfc-percpu")
    assert len(machine.cpus) == 2


def test_host_sizes_are_bounded() -> None:
    from taskletsim import Topology, run
    from taskletsim.platform.topology import MAX_CPUS

    with pytest.raises(ConfigError, match=f"at most {MAX_CPUS} CPUs"):
        Topology(sockets=MAX_CPUS, cores_per_socket=2)
    with pytest.raises(ConfigError, match=f"at most {MAX_VCPUS} vCPUs in all"):
        run(
            "xen-8socket-passthrough",
            duration_ms=1,
            params={"idle_guests": 200, "idle_vcpus": 100},
        )


def test_numbers_without_a_maximum_are_held_to_physical_bounds() -> None:
    from taskletsim import run
    from taskletsim.core.config import LARGEST, SMALLEST, check_duration_ms

    with pytest.raises(ConfigError, match="duration_ms"):
        check_duration_ms(LARGEST * 10)
    assert check_duration_ms(LARGEST) == LARGEST
    with pytest.raises(ConfigError, match=r"hold_ns.*<= 1e\+12"):
        run("lock-open", duration_ms=1, params={"hold_ns": LARGEST * 10})
    with pytest.raises(ConfigError, match=r"tick_hz.*>= 1e-09"):
        run("small-2socket", duration_ms=1, params={"tick_hz": SMALLEST / 10})
    for name in ("msix_per_vcpu", "idle_vcpus"):
        with pytest.raises(ConfigError, match=name):
            run("xen-8socket-passthrough", duration_ms=1, params={name: 100_000})
    with pytest.raises(ConfigError, match="vcpus_per_idle_cpu"):
        run("small-2socket", duration_ms=1, params={"vcpus_per_idle_cpu": 65})
