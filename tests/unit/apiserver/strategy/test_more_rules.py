"""The less common rules of every kind, one failing case each (field path and exact message)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitkube.apiserver import strategy

from . import causes_of, container, defaulted, info, job, pod, run, service

C0 = "spec.containers[0]"


def ctr(**extra: Any) -> dict[str, Any]:
    return container(**extra)


# (pod spec overrides, field, message)
POD_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"securityContext": {"sysctls": [{"name": "net.core.somaxconn", "value": "1"},
                                      {"name": "net.core.somaxconn", "value": "2"}]}},
     "spec.securityContext.sysctls[1].name", 'Duplicate value: "net.core.somaxconn"'),
    ({"securityContext": {"sysctls": [{"value": "1"}]}}, "spec.securityContext.sysctls[0].name", "Required value"),
    ({"securityContext": {"fsGroupChangePolicy": "Never"}}, "spec.securityContext.fsGroupChangePolicy",
     'Unsupported value: "Never": supported values: "Always", "OnRootMismatch"'),
    ({"securityContext": {"fsGroup": -1}}, "spec.securityContext.fsGroup",
     "Invalid value: -1: must be between 0 and 4294967295, inclusive"),
    ({"securityContext": {"supplementalGroups": [-5]}}, "spec.securityContext.supplementalGroups[0]",
     "Invalid value: -5: must be between 0 and 4294967295, inclusive"),
    ({"shareProcessNamespace": True, "hostPID": True}, "spec.securityContext.shareProcessNamespace",
     "Invalid value: true: ShareProcessNamespace and HostPID cannot both be enabled"),
    ({"readinessGates": [{"conditionType": "bad type!"}]}, "spec.readinessGates[0].conditionType", None),
    ({"schedulingGates": [{"name": "example.com/a"}, {"name": "example.com/a"}]}, "spec.schedulingGates[1]",
     'Duplicate value: "example.com/a"'),
    ({"runtimeClassName": "Bad_Class"}, "spec.runtimeClassName", None),
    ({"priorityClassName": "Bad_Class"}, "spec.priorityClassName", None),
    ({"os": {"name": "plan9"}}, "spec.os.name", 'Unsupported value: "plan9": supported values: "linux", "windows"'),
    ({"dnsConfig": {"nameservers": ["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"]}}, "spec.dnsConfig.nameservers",
     'Invalid value: []string{"1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"}: must not have more than 3 nameservers'),
    ({"dnsPolicy": "None", "dnsConfig": {"searches": ["a"]}}, "spec.dnsConfig.nameservers",
     "Required value: must provide at least one DNS nameserver when `dnsPolicy` is None"),
    ({"dnsConfig": {"searches": ["Bad_Domain."]}}, "spec.dnsConfig.searches[0]", None),
    ({"dnsConfig": {"options": [{"value": "2"}]}}, "spec.dnsConfig.options[0]", "Required value: must not be empty"),
    ({"topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
        {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]},
     "spec.topologySpreadConstraints[0].{topologyKey, whenUnsatisfiable}", 'Duplicate value: "{zone, DoNotSchedule}"'),
    ({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
                                     "minDomains": 2}]},
     "spec.topologySpreadConstraints[0].minDomains",
     "Invalid value: 2: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway"),
    ({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "", "whenUnsatisfiable": "DoNotSchedule"}]},
     "spec.topologySpreadConstraints[0].topologyKey", "Required value: can not be empty"),
    ({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "z", "whenUnsatisfiable": "DoNotSchedule",
                                     "nodeTaintsPolicy": "Maybe"}]},
     "spec.topologySpreadConstraints[0].nodeTaintsPolicy", 'Unsupported value: "Maybe": supported values: "Honor", '
     '"Ignore"'),
    ({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "zone", "namespaces": ["Bad_NS"]}]}}},
     "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespace", None),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["1", "2"]}]}]}}}},
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
     ".matchExpressions[0].values", "Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}]}}}},
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
     ".matchExpressions[0].values", "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.labels", "operator": "In", "values": ["x"]}]}]}}}},
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
     ".matchFields[0].key", 'Invalid value: "metadata.labels": not a valid field selector key'),
    ({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 101, "preference": {}}]}}},
     "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
     "Invalid value: 101: must be in the range 1-100"),
    ({"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}, "spec.tolerations[0].operator", None),
    ({"containers": [ctr(volumeMounts=[{"name": "v", "mountPath": "/a", "mountPropagation": "Bidirectional"}])],
      "volumes": [{"name": "v", "emptyDir": {}}]}, f"{C0}.volumeMounts.mountPropagation",
     "Forbidden: Bidirectional mount propagation is available only to privileged containers"),
    ({"containers": [ctr(volumeMounts=[{"name": "v", "mountPath": "/a", "mountPropagation": "Shared"}])],
      "volumes": [{"name": "v", "emptyDir": {}}]}, f"{C0}.volumeMounts.mountPropagation",
     'Unsupported value: "Shared": supported values: "Bidirectional", "HostToContainer", "None"'),
    ({"containers": [ctr(volumeMounts=[{"name": "v", "mountPath": "/a", "subPath": "x", "subPathExpr": "$(P)"}])],
      "volumes": [{"name": "v", "emptyDir": {}}]}, f"{C0}.volumeMounts[0].subPathExpr",
     'Invalid value: "$(P)": subPathExpr and subPath are mutually exclusive'),
    ({"containers": [ctr(volumeMounts=[{"name": "v", "mountPath": "/a"}], volumeDevices=[{"name": "v",
                                                                                         "devicePath": "/dev/x"}])],
      "volumes": [{"name": "v", "emptyDir": {}}]}, f"{C0}.volumeMounts[0].name",
     'Invalid value: "v": must not already exist in volumeDevices'),
    ({"containers": [ctr(envFrom=[{"prefix": "A=", "configMapRef": {"name": "c"}}])]}, f"{C0}.envFrom[0].prefix",
     'Invalid value: "A=": a valid environment variable name must consist only of printable ASCII characters other '
     "than '='"),
    ({"containers": [ctr(envFrom=[{"configMapRef": {"name": "c"}, "secretRef": {"name": "s"}}])]}, f"{C0}.envFrom",
     'Invalid value: "": may not have more than one field specified at a time'),
    ({"containers": [ctr(envFrom=[{"configMapRef": {}}])]}, f"{C0}.envFrom[0].configMapRef.name", "Required value"),
    ({"containers": [ctr(env=[{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name['x']"}}}])]},
     f"{C0}.env[0].valueFrom.fieldRef.fieldPath", "Invalid value: \"metadata.name['x']\": error converting fieldPath: "
     "field label does not support subscript: metadata.name['x']"),
    ({"containers": [ctr(env=[{"name": "A", "valueFrom": {"fieldRef": {"apiVersion": "v2",
                                                                       "fieldPath": "metadata.name"}}}])]},
     f"{C0}.env[0].valueFrom.fieldRef.fieldPath",
     'Invalid value: "metadata.name": error converting fieldPath: unsupported pod version: v2'),
    ({"containers": [ctr(securityContext={"procMount": "Shiny"})]}, f"{C0}.securityContext.procMount",
     'Unsupported value: "Shiny": supported values: "Default", "Unmasked"'),
    ({"containers": [ctr(securityContext={"privileged": True, "allowPrivilegeEscalation": False})]},
     f"{C0}.securityContext", None),
    ({"containers": [ctr(securityContext={"seccompProfile": {}})]}, f"{C0}.securityContext.seccompProfile.type",
     "Required value: type is required when seccompProfile is set"),
    ({"containers": [ctr(securityContext={"seccompProfile": {"type": "Localhost"}})]},
     f"{C0}.securityContext.seccompProfile.localhostProfile", "Required value: must be set when seccomp type is Localhost"),
    ({"containers": [ctr(securityContext={"seccompProfile": {"type": "RuntimeDefault", "localhostProfile": "p"}})]},
     f"{C0}.securityContext.seccompProfile.localhostProfile",
     'Invalid value: "p": can only be set when seccomp type is Localhost'),
    ({"volumes": [{"name": "v", "downwardAPI": {"items": [
        {"path": "x", "fieldRef": {"fieldPath": "metadata.name"},
         "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu"}}]}}]},
     "spec.volumes[0].downwardAPI",
     'Invalid value: "resource": fieldRef and resourceFieldRef can not be specified simultaneously'),
    ({"volumes": [{"name": "v", "downwardAPI": {"items": [{"path": "x", "resourceFieldRef": {"resource": "limits.cpu"}}]}}]},
     "spec.volumes[0].downwardAPI.resourceFieldRef.containerName", "Required value"),
    ({"volumes": [{"name": "v", "projected": {"sources": [
        {"configMap": {"name": "a", "items": [{"key": "k", "path": "same"}]}},
        {"secret": {"name": "b", "items": [{"key": "k", "path": "same"}]}}]}}]},
     "spec.volumes[0].projected", 'Invalid value: "b": conflicting duplicate paths'),
    ({"volumes": [{"name": "v", "csi": {"driver": ""}}]}, "spec.volumes[0].csi.driver", "Required value"),
    ({"volumes": [{"name": "v", "ephemeral": {}}]}, "spec.volumes[0].ephemeral.volumeClaimTemplate", "Required value"),
    ({"volumes": [{"name": "v", "image": {}}]}, "spec.volumes[0].image.reference", None),
    ({"volumes": [{"name": "v", "gitRepo": {}}]}, "spec.volumes[0].gitRepo.repository", "Required value"),
    ({"volumes": [{"name": ""}]}, "spec.volumes[0].name", "Required value"),
]


@pytest.mark.parametrize(("spec", "field", "message"), POD_CASES)
def test_pod_rule(spec: dict[str, Any], field: str, message: str | None) -> None:
    causes = run("Pod", pod(**spec))
    found = causes_of(causes, field)
    assert (message in found) if message else found, [(c.field, c.message) for c in causes]


def test_templates_forbid_ephemeral_containers() -> None:
    obj = {"metadata": {"name": "d", "namespace": "n"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
            "containers": [ctr()], "ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}}}}
    assert causes_of(run("Deployment", obj), "spec.template.spec.ephemeralContainers") == [
        "Forbidden: ephemeral containers not allowed in pod template"]


def test_rules_normally_hidden_by_defaults() -> None:
    """Fields that defaulting always fills are still checked when an object arrives undefaulted."""
    raw = pod()
    causes = strategy.validate(info("Pod"), raw, None)
    assert "Required value" in causes_of(causes, "spec.terminationGracePeriodSeconds")
    assert "Required value" in causes_of(causes, "spec.restartPolicy")
    assert "Required value" in causes_of(causes, "spec.dnsPolicy")
    assert "Required value" in causes_of(causes, f"{C0}.imagePullPolicy")
    assert "Required value" in causes_of(causes, f"{C0}.terminationMessagePolicy")
    svc = service(sessionAffinity="ClientIP")
    svc_causes = strategy.validate(info("Service"), svc, None)
    assert causes_of(svc_causes, "spec.sessionAffinityConfig.clientIP.timeoutSeconds") == [
        "Required value: when session affinity type is ClientIP"]
    assert causes_of(svc_causes, "spec.sessionAffinity") == []
    stale = service(sessionAffinity="None", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 5}})
    assert causes_of(strategy.validate(info("Service"), stale, None), "spec.sessionAffinityConfig") == [
        "Forbidden: must not be set when session affinity is None"]  # defaulting drops it
    assert causes_of(svc_causes, "spec.internalTrafficPolicy") == []  # no type: nothing to require yet
    deploy = {"metadata": {"name": "d", "namespace": "n"}, "spec": {"strategy": {"type": "RollingUpdate"}}}
    assert causes_of(strategy.validate(info("Deployment"), deploy, None), "spec.strategy.rollingUpdate") == [
        "Required value: this should be defaulted and never be nil"]
    ns = {"metadata": {"name": "cfg", "namespace": "default"}}
    assert causes_of(strategy.validate(info("Namespace"), ns, None), "metadata.namespace") == [
        "Forbidden: not allowed on this type"]


SERVICE_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"clusterIPs": ["10.0.0.1", "fd00::1", "10.0.0.2"]}, "spec.clusterIPs",
     'Invalid value: []string{"10.0.0.1", "fd00::1", "10.0.0.2"}: may only hold up to 2 values'),
    ({"clusterIPs": ["10.0.0.1", "10.0.0.2"]}, "spec.clusterIPs",
     'Invalid value: []string{"10.0.0.1", "10.0.0.2"}: may specify no more than one IP for each IP family'),
    ({"type": "ExternalName", "externalName": "Bad_Name", "ports": []}, "spec.externalName", None),
    ({"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/33"]}, "spec.LoadBalancerSourceRanges[0]",
     'Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'),
    ({"loadBalancerClass": "example.com/lb"}, "spec.loadBalancerClass",
     "Forbidden: may only be used when `type` is 'LoadBalancer'"),
    ({"ports": [{"port": 80, "appProtocol": "bad proto!"}]}, "spec.ports[0].appProtocol", None),
]


@pytest.mark.parametrize(("spec", "field", "message"), SERVICE_CASES)
def test_service_rule(spec: dict[str, Any], field: str, message: str | None) -> None:
    causes = run("Service", service(**spec))
    found = causes_of(causes, field)
    assert (message in found) if message else found, [(c.field, c.message) for c in causes]


def test_service_must_be_empty_and_single_stack_downgrade() -> None:
    raw = service(clusterIPs=["10.0.0.1"])
    raw["spec"]["type"] = "ClusterIP"
    assert causes_of(strategy.validate(info("Service"), raw, None), "spec.clusterIPs") == [
        'Invalid value: []string{"10.0.0.1"}: must be empty when `clusterIP` is not specified']
    old = defaulted("Service", service(clusterIPs=["10.0.0.1", "fd00::1"], clusterIP="10.0.0.1",
                                       ipFamilies=["IPv4", "IPv6"], ipFamilyPolicy="PreferDualStack"))
    new = copy.deepcopy(old)
    new["spec"]["clusterIPs"] = ["10.0.0.1"]
    new["spec"]["ipFamilies"] = ["IPv4"]
    assert causes_of(run("Service", new, old), "spec.ipFamilyPolicy") == [
        "Invalid value: \"PreferDualStack\": must be set to 'SingleStack' when releasing the secondary clusterIP"]


def test_more_job_hpa_admission_event_rules() -> None:
    assert causes_of(run("Job", job(backoffLimitPerIndex=1)), "spec.backoffLimitPerIndex") == [
        "Forbidden: requires indexed completion mode"]
    hpa: dict[str, Any] = {"metadata": {"name": "h", "namespace": "n"}, "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
        "metrics": [{"resource": {"target": {}}}], "behavior": {"scaleUp": {"stabilizationWindowSeconds": -1}}}}
    causes = run("HorizontalPodAutoscaler", hpa)
    assert "Required value: must specify a metric source type" in causes_of(causes, "spec.metrics[0].type")
    assert "Required value: must specify a resource name" in causes_of(causes, "spec.metrics[0].resource.name")
    assert "Required value: must specify a metric target type" in causes_of(causes, "spec.metrics[0].resource.target.type")
    assert "Invalid value: -1: must be greater than or equal to zero" in causes_of(
        causes, "spec.behavior.scaleUp.stabilizationWindowSeconds")
    pods_metric = {**hpa, "spec": {**hpa["spec"], "behavior": None, "metrics": [
        {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue"}}}]}}
    assert causes_of(run("HorizontalPodAutoscaler", pods_metric), "spec.metrics[0].pods.target.averageValue") == [
        "Required value: must specify a positive target averageValue"]
    policy = {"metadata": {"name": ""}, "spec": {
        "matchConstraints": {"resourceRules": [{"apiGroups": ["*", "apps"], "apiVersions": ["v1"],
                                                "operations": ["CREATE"], "resources": ["pods"]}]},
        "validations": [{"expression": "true", "messageExpression": "  "}],
        "variables": [{"expression": "1"}],
        "auditAnnotations": [{"key": "k", "valueExpression": "x" * 6000}]}}
    causes = strategy.validate(info("ValidatingAdmissionPolicy"), defaulted("ValidatingAdmissionPolicy", policy), None)
    assert causes_of(causes, "spec.matchConstraints.resourceRules[0].apiGroups") == [
        "Invalid value: []string{\"*\", \"apps\"}: if '*' is present, must not specify other API groups"]
    assert causes_of(causes, "spec.validations[0].messageExpression") == [
        'Invalid value: "  ": must be non-empty if specified']
    assert causes_of(causes, "spec.variables[0].name") == ["Required value: name is not specified"]
    assert causes_of(causes, "spec.auditAnnotations[0].key") == [
        'Invalid value: "k": requires metadata.name be non-empty']
    assert causes_of(causes, "spec.auditAnnotations[0].valueExpression") == [
        "Required value: must not exceed 5120 bytes in length"]
    event = {"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {"kind": "Pod", "name": "p"},
             "eventTime": "2024-01-01T00:00:00Z", "reportingComponent": "kubelet", "reportingInstance": "n",
             "action": "Run", "reason": "R", "message": "m" * 1025}
    assert causes_of(run("Event", event), "message") == ['Invalid value: "": can have at most 1024 characters']
