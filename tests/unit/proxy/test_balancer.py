"""Balancer: round robin, ClientIP affinity with its timeout, in-place updates; and the
reading of an Endpoints object's ready backends per service port."""

from __future__ import annotations

from gitkube.proxy.balancer import (
    DEFAULT_AFFINITY_TIMEOUT,
    Backend,
    Balancer,
    affinity_timeout,
    backends_for_port,
)

A, B, C = Backend("127.1.0.1", 80), Backend("127.1.0.2", 80), Backend("127.1.0.3", 80)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def firsts(balancer: Balancer, n: int, client: str = "127.0.0.1") -> list[Backend]:
    return [balancer.candidates(client)[0] for _ in range(n)]


def test_round_robin_and_fallback_order() -> None:
    balancer = Balancer([A, B, C])
    assert firsts(balancer, 6) == [A, B, C, A, B, C]
    assert balancer.candidates("x") == [A, B, C]
    assert balancer.candidates("x") == [B, C, A]
    assert Balancer().candidates("x") == []
    assert not Balancer()


def test_update_in_place_keeps_rotation_and_drops_removed() -> None:
    balancer = Balancer([A, B, C])
    assert firsts(balancer, 2) == [A, B]
    balancer.update([A, C])
    assert firsts(balancer, 3) == [C, A, C]
    balancer.update([])
    assert balancer.candidates("x") == []
    balancer.update([B, B])
    assert balancer.backends == (B,)


def test_client_ip_affinity_sticks_until_timeout() -> None:
    clock = Clock()
    balancer = Balancer([A, B], affinity=30, clock=clock)
    first = balancer.candidates("10.0.0.1")[0]
    balancer.record("10.0.0.1", first)
    other = balancer.candidates("10.0.0.2")[0]
    balancer.record("10.0.0.2", other)
    assert other != first
    for _ in range(5):
        clock.now += 20  # each connection refreshes the stick
        got = balancer.candidates("10.0.0.1")
        assert got[0] == first and set(got) == {A, B}
        balancer.record("10.0.0.1", got[0])
    assert balancer.sticky("10.0.0.1") == first
    clock.now += 31
    assert balancer.sticky("10.0.0.1") is None


def test_affinity_forgets_removed_backend_and_turning_off() -> None:
    balancer = Balancer([A, B], affinity=100)
    balancer.record("c", B)
    assert balancer.candidates("c")[0] == B
    balancer.update([A, C])
    assert balancer.sticky("c") is None
    assert balancer.candidates("c")[0] in (A, C)
    balancer.record("c", C)
    balancer.set_affinity(None)
    assert balancer.sticky("c") is None
    balancer.record("c", C)  # no-op without affinity
    assert firsts(balancer, 2, "c") != [C, C]


def test_affinity_timeout_from_service() -> None:
    assert affinity_timeout({"spec": {"sessionAffinity": "None"}}) is None
    assert affinity_timeout({"spec": {"sessionAffinity": "ClientIP"}}) == DEFAULT_AFFINITY_TIMEOUT == 10800
    svc = {"spec": {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}}
    assert affinity_timeout(svc) == 5


def test_backends_for_port_by_name_ready_only() -> None:
    endpoints = {"subsets": [
        {"addresses": [{"ip": "127.1.0.2"}, {"ip": "127.1.0.1"}], "notReadyAddresses": [{"ip": "127.1.0.9"}],
         "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}]},
        {"addresses": [{"ip": "127.1.0.3"}], "ports": [{"name": "http", "port": 8081}]},
        {"notReadyAddresses": [{"ip": "127.1.0.4"}], "ports": [{"name": "http", "port": 8080}]},
    ]}
    assert backends_for_port(endpoints, "http", only_port=False) == [
        Backend("127.1.0.1", 8080), Backend("127.1.0.2", 8080), Backend("127.1.0.3", 8081)]
    assert backends_for_port(endpoints, "metrics", only_port=False) == [
        Backend("127.1.0.1", 9090), Backend("127.1.0.2", 9090)]
    assert backends_for_port(endpoints, "", only_port=False) == []
    assert backends_for_port(None, "http", only_port=True) == []


def test_backends_for_the_only_port_whatever_its_name() -> None:
    endpoints = {"subsets": [{"addresses": [{"ip": "127.1.0.1"}], "ports": [{"port": 7000}]},
                 {"addresses": [{"ip": "127.1.0.2"}], "ports": [{"name": "web", "port": 7001}]},
                 {"addresses": [{"ip": "127.1.0.3"}], "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}]}
    assert backends_for_port(endpoints, "", only_port=True) == [Backend("127.1.0.1", 7000), Backend("127.1.0.2", 7001)]
    assert backends_for_port(endpoints, "", only_port=False) == [Backend("127.1.0.1", 7000)]
