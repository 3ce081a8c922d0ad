"""Service and Endpoints defaults and validation, and the update carry-over of allocated values."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitkube.apiserver import strategy

from . import causes_of, defaulted, info, run, service

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


def test_service_defaults_leave_cluster_ip_unset() -> None:
    spec = defaulted("Service", service())["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert "externalTrafficPolicy" not in spec
    for unset in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        assert unset not in spec
    assert run("Service", service()) == []  # an unset clusterIP is accepted on create


def test_service_defaults_once_cluster_ip_is_set() -> None:
    spec = defaulted("Service", service(clusterIP="10.96.0.10"))["spec"]
    assert spec["clusterIPs"] == ["10.96.0.10"]
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    v6 = defaulted("Service", service(clusterIP="fd00::10"))["spec"]
    assert v6["ipFamilies"] == ["IPv6"]
    headless = defaulted("Service", service(clusterIP="None"))["spec"]
    assert headless["clusterIPs"] == ["None"] and headless["ipFamilies"] == ["IPv4"]
    from_list = defaulted("Service", service(clusterIPs=["10.96.0.11"]))["spec"]
    assert from_list["clusterIP"] == "10.96.0.11"
    assert run("Service", service(clusterIP="None", ports=[])) == []  # headless needs no ports


def test_type_dependent_defaults() -> None:
    node_port = defaulted("Service", service(type="NodePort"))["spec"]
    assert node_port["externalTrafficPolicy"] == "Cluster" and node_port["internalTrafficPolicy"] == "Cluster"
    lb = defaulted("Service", service(type="LoadBalancer"))["spec"]
    assert lb["allocateLoadBalancerNodePorts"] is True and lb["externalTrafficPolicy"] == "Cluster"
    named = defaulted("Service", service(ports=[{"port": 80, "targetPort": "http"}]))["spec"]["ports"][0]
    assert named["targetPort"] == "http"
    affinity = defaulted("Service", service(sessionAffinity="ClientIP"))["spec"]
    assert affinity["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    external = defaulted("Service", service(type="ExternalName", externalName="db.example.com", ports=[]))["spec"]
    assert "internalTrafficPolicy" not in external and "clusterIPs" not in external
    assert run("Service", service(type="ExternalName", externalName="db.example.com.", ports=[])) == []


CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"ports": []}, "spec.ports", "Required value"),
    ({"type": "Magic"}, "spec.type",
     'Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'),
    ({"ports": [{"port": 0}]}, "spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
    ({"ports": [{"port": 70000}]}, "spec.ports[0].port", "Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ({"ports": [{"port": 80, "protocol": "ICMP"}]}, "spec.ports[0].protocol",
     'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'),
    ({"ports": [{"port": 80}, {"port": 81}]}, "spec.ports[0].name", "Required value"),
    ({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}, "spec.ports[1].name", 'Duplicate value: "a"'),
    ({"ports": [{"name": "Web", "port": 80}]}, "spec.ports[0].name", f'Invalid value: "Web": {LABEL_MSG}'),
    ({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]}, "spec.ports[1]",
     'Duplicate value: {"port":80,"protocol":"TCP"}'),
    ({"ports": [{"port": 80, "targetPort": "HTTP_PORT"}]}, "spec.ports[0].targetPort", None),
    ({"ports": [{"port": 80, "nodePort": 30080}]}, "spec.ports[0].nodePort",
     "Forbidden: may not be used when `type` is 'ClusterIP'"),
    ({"type": "NodePort", "ports": [{"name": "a", "port": 80, "nodePort": 30080},
                                    {"name": "b", "port": 81, "nodePort": 30080}]},
     "spec.ports[1].nodePort", "Duplicate value: 30080"),
    ({"type": "NodePort", "clusterIP": "None"}, "spec.clusterIPs[0]",
     "Invalid value: \"None\": may not be set to 'None' for NodePort services"),
    ({"type": "ExternalName", "ports": []}, "spec.externalName", "Required value"),
    ({"type": "ExternalName", "externalName": "db.example.com", "clusterIP": "10.0.0.1"}, "spec.clusterIPs",
     "Forbidden: may not be set for ExternalName services"),
    ({"clusterIP": "not-an-ip"}, "spec.clusterIPs[0]",
     'Invalid value: "not-an-ip": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
    ({"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.2"]}, "spec.clusterIPs",
     'Invalid value: []string{"10.0.0.2"}: first value must match `clusterIP`'),
    ({"clusterIPs": ["None", "10.0.0.1"]}, "spec.clusterIPs",
     "Invalid value: []string{\"None\", \"10.0.0.1\"}: 'None' must be the first and only value"),
    ({"clusterIP": "10.0.0.1", "ipFamilies": ["IPv6"]}, "spec.clusterIPs[0]",
     'Invalid value: "10.0.0.1": expected an IPv6 value as indicated by `ipFamilies[0]`'),
    ({"clusterIP": "10.0.0.1", "ipFamilies": ["IPv5"]}, "spec.ipFamilies[0]",
     'Unsupported value: "IPv5": supported values: "IPv4", "IPv6"'),
    ({"clusterIP": "10.0.0.1", "ipFamilyPolicy": "Dual"}, "spec.ipFamilyPolicy",
     'Unsupported value: "Dual": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"'),
    ({"sessionAffinity": "Sticky"}, "spec.sessionAffinity",
     'Unsupported value: "Sticky": supported values: "ClientIP", "None"'),
    ({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}},
     "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "Invalid value: 0: must be greater than 0 and less than 86400"),
    ({"selector": {"app": "bad value!"}}, "spec.selector", None),
    ({"externalTrafficPolicy": "Local"}, "spec.externalTrafficPolicy",
     'Invalid value: "Local": may only be set for externally-accessible services'),
    ({"type": "NodePort", "externalTrafficPolicy": "Nearby"}, "spec.externalTrafficPolicy",
     'Unsupported value: "Nearby": supported values: "Cluster", "Local"'),
    ({"internalTrafficPolicy": "Nearby"}, "spec.internalTrafficPolicy",
     'Unsupported value: "Nearby": supported values: "Cluster", "Local"'),
    ({"healthCheckNodePort": 30000}, "spec.healthCheckNodePort",
     "Invalid value: 30000: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"),
    ({"loadBalancerSourceRanges": ["10.0.0.0/8"]}, "spec.LoadBalancerSourceRanges",
     "Forbidden: may only be used when `type` is 'LoadBalancer'"),
    ({"allocateLoadBalancerNodePorts": False}, "spec.allocateLoadBalancerNodePorts",
     "Forbidden: may only be used when `type` is 'LoadBalancer'"),
    ({"externalIPs": ["1.2.3"]}, "spec.externalIPs[0]",
     'Invalid value: "1.2.3": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
    ({"trafficDistribution": "Anywhere"}, "spec.trafficDistribution",
     'Unsupported value: "Anywhere": supported values: "PreferClose"'),
]


@pytest.mark.parametrize(("spec", "field", "message"), CASES)
def test_service_rule(spec: dict[str, Any], field: str, message: str | None) -> None:
    causes = run("Service", service(**spec))
    found = causes_of(causes, field)
    assert (message in found) if message else found, [(c.field, c.message) for c in causes]


def test_cluster_ip_is_immutable() -> None:
    old = defaulted("Service", service(clusterIP="10.96.0.10"))
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.11"
    new["spec"]["clusterIPs"] = ["10.96.0.11"]
    assert causes_of(run("Service", new, old), "spec.clusterIPs[0]") == [
        'Invalid value: []string{"10.96.0.11"}: may not change once set']
    unset = copy.deepcopy(old)
    del unset["spec"]["clusterIP"], unset["spec"]["clusterIPs"]
    assert causes_of(run("Service", unset, old), "spec.clusterIPs[0]") == [
        "Invalid value: []: primary clusterIP can not be unset"]
    families = copy.deepcopy(old)
    families["spec"]["ipFamilies"] = ["IPv6"]
    assert 'Invalid value: []string{"IPv6"}: may not change once set' in causes_of(
        run("Service", families, old), "spec.ipFamilies[0]")


def test_prepare_for_update_carries_allocated_values() -> None:
    old = defaulted("Service", service(type="NodePort", clusterIP="10.96.0.10",
                                       ports=[{"port": 80, "nodePort": 30080}]))
    replaced = service(type="NodePort", clusterIP="")  # a full replace without the allocated values
    strategy.prepare_for_update(info("Service"), replaced, old)
    strategy.default(info("Service"), replaced)
    assert replaced["spec"]["clusterIP"] == "10.96.0.10"
    assert replaced["spec"]["clusterIPs"] == ["10.96.0.10"]
    assert replaced["spec"]["ports"][0]["nodePort"] == 30080
    assert strategy.validate(info("Service"), replaced, old) == []


def test_prepare_for_update_wipes_fields_of_the_old_type() -> None:
    old = defaulted("Service", service(type="NodePort", clusterIP="10.96.0.10",
                                       ports=[{"port": 80, "nodePort": 30080}]))
    to_external = copy.deepcopy(old)
    to_external["spec"].update(type="ExternalName", externalName="db.example.com")
    strategy.prepare_for_update(info("Service"), to_external, old)
    strategy.default(info("Service"), to_external)
    for gone in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "externalTrafficPolicy"):
        assert gone not in to_external["spec"]
    assert "nodePort" not in to_external["spec"]["ports"][0]
    assert strategy.validate(info("Service"), to_external, old) == []


def endpoints(subsets: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "default"},
            "subsets": subsets}


def test_endpoints() -> None:
    ok = endpoints([{"addresses": [{"ip": "127.0.0.5", "nodeName": "node-a"}], "ports": [{"port": 8080}]}])
    assert defaulted("Endpoints", ok)["subsets"][0]["ports"][0]["protocol"] == "TCP"
    assert run("Endpoints", ok) == []  # loopback pod IPs are gitkube's normal case
    cases: list[tuple[list[dict[str, Any]], str, str]] = [
        ([{"ports": [{"port": 80}]}], "subsets[0]", "Required value: must specify `addresses` or `notReadyAddresses`"),
        ([{"addresses": [{"ip": "nope"}]}], "subsets[0].addresses[0].ip",
         'Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
        ([{"addresses": [{"ip": "0.0.0.0"}]}], "subsets[0].addresses[0].ip",
         'Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)'),
        ([{"addresses": [{"ip": "169.254.1.1"}]}], "subsets[0].addresses[0].ip",
         'Invalid value: "169.254.1.1": may not be in the link-local range (169.254.0.0/16, fe80::/10)'),
        ([{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}, {"port": 81}]}], "subsets[0].ports[0].name",
         "Required value"),
        ([{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 0}]}], "subsets[0].ports[0].port",
         "Invalid value: 0: must be between 1 and 65535, inclusive"),
        ([{"addresses": [{"ip": "10.0.0.1", "hostname": "Bad_Host"}]}], "subsets[0].addresses[0].hostname",
         f'Invalid value: "Bad_Host": {LABEL_MSG}'),
    ]
    for subsets, field, message in cases:
        assert message in causes_of(run("Endpoints", endpoints(subsets)), field), (field, message)
