"""Pod create validation: every PodSpec and container rule, with Kubernetes' paths and words."""

from __future__ import annotations

from typing import Any

import pytest

from . import causes_of, container, pod, run

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
PORT_RANGE = "must be between 1 and 65535, inclusive"
C0 = "spec.containers[0]"


def ctr(**extra: Any) -> dict[str, Any]:
    return container(**extra)


# (pod spec overrides, field, message)
CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"containers": []}, "spec.containers", "Required value"),
    ({"containers": [ctr(name="Bad_Name")]}, f"{C0}.name", f'Invalid value: "Bad_Name": {LABEL_MSG}'),
    ({"containers": [ctr(name="")]}, f"{C0}.name", "Required value"),
    ({"containers": [ctr(), ctr()]}, "spec.containers[1].name", 'Duplicate value: "app"'),
    ({"initContainers": [ctr()]}, "spec.initContainers[0].name", 'Duplicate value: "app"'),
    ({"containers": [ctr(image="")]}, f"{C0}.image", "Required value"),
    ({"containers": [ctr(image=" nginx")]}, f"{C0}.image",
     'Invalid value: " nginx": must not have leading or trailing whitespace'),
    ({"containers": [ctr(ports=[{"containerPort": 70000}])]}, f"{C0}.ports[0].containerPort",
     f"Invalid value: 70000: {PORT_RANGE}"),
    ({"containers": [ctr(ports=[{"containerPort": 0}])]}, f"{C0}.ports[0].containerPort", "Required value"),
    ({"containers": [ctr(ports=[{"containerPort": 80, "protocol": "HTTP"}])]}, f"{C0}.ports[0].protocol",
     'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'),
    ({"containers": [ctr(ports=[{"containerPort": 80, "hostPort": 99999}])]}, f"{C0}.ports[0].hostPort",
     f"Invalid value: 99999: {PORT_RANGE}"),
    ({"containers": [ctr(ports=[{"containerPort": 80, "name": "Web"}])]}, f"{C0}.ports[0].name",
     'Invalid value: "Web": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'),
    ({"containers": [ctr(ports=[{"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}])]},
     f"{C0}.ports[1].name", 'Duplicate value: "web"'),
    ({"containers": [ctr(ports=[{"containerPort": 80, "hostPort": 80}]),
                     ctr(name="b", ports=[{"containerPort": 81, "hostPort": 80}])]},
     "spec.containers[1].ports[0].hostPort", 'Duplicate value: "TCP//80"'),
    ({"containers": [ctr(env=[{"name": "A=B"}])]}, f"{C0}.env[0].name",
     'Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters '
     "other than '='"),
    ({"containers": [ctr(env=[{"value": "x"}])]}, f"{C0}.env[0].name", "Required value"),
    ({"containers": [ctr(env=[{"name": "A", "valueFrom": {}}])]}, f"{C0}.env[0].valueFrom",
     'Invalid value: "": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'),
    ({"containers": [ctr(env=[{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"},
                                                         "secretKeyRef": {"name": "s", "key": "k"}}}])]},
     f"{C0}.env[0].valueFrom", 'Invalid value: "": may not have more than one field specified at a time'),
    ({"containers": [ctr(env=[{"name": "A", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}])]},
     f"{C0}.env[0].valueFrom", 'Invalid value: "": may not be specified when `value` is not empty'),
    ({"containers": [ctr(env=[{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "bad key"}}}])]},
     f"{C0}.env[0].valueFrom.secretKeyRef.key",
     "Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
     "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"),
    ({"containers": [ctr(env=[{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}}])]},
     f"{C0}.env[0].valueFrom.fieldRef.fieldPath",
     'Unsupported value: "metadata.labels": supported values: "metadata.name", "metadata.namespace", "metadata.uid", '
     '"spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"'),
    ({"containers": [ctr(env=[{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.nothing"}}}])]},
     f"{C0}.env[0].valueFrom.fieldRef.fieldPath",
     'Invalid value: "spec.nothing": error converting fieldPath: field label not supported: spec.nothing'),
    ({"containers": [ctr(env=[{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}])]},
     f"{C0}.env[0].valueFrom.resourceFieldRef.resource",
     'Unsupported value: "limits.gpu": supported values: "limits.cpu", "limits.ephemeral-storage", "limits.memory", '
     '"requests.cpu", "requests.ephemeral-storage", "requests.memory"'),
    ({"containers": [ctr(env=[{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu",
                                                                               "divisor": "2"}}}])]},
     f"{C0}.env[0].valueFrom.resourceFieldRef.divisor",
     'Invalid value: "limits.cpu": only divisor\'s values 1m and 1 are supported with the cpu resource'),
    ({"containers": [ctr(envFrom=[{}])]}, f"{C0}.envFrom",
     'Invalid value: "": must specify one of: `configMapRef` or `secretRef`'),
    ({"containers": [ctr(volumeMounts=[{"name": "missing", "mountPath": "/data"}])]},
     f"{C0}.volumeMounts[0].name", 'Not found: "missing"'),
    ({"containers": [ctr(volumeMounts=[{"name": "v", "mountPath": ""}])], "volumes": [{"name": "v", "emptyDir": {}}]},
     f"{C0}.volumeMounts[0].mountPath", "Required value"),
    ({"containers": [ctr(volumeMounts=[{"name": "v", "mountPath": "/a"}, {"name": "v", "mountPath": "/a"}])],
      "volumes": [{"name": "v", "emptyDir": {}}]},
     f"{C0}.volumeMounts[1].mountPath", 'Invalid value: "/a": must be unique'),
    ({"containers": [ctr(volumeMounts=[{"name": "v", "mountPath": "/a", "subPath": "../x"}])],
      "volumes": [{"name": "v", "emptyDir": {}}]},
     f"{C0}.volumeMounts.subPath", "Invalid value: \"../x\": must not contain '..'"),
    ({"containers": [ctr(resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1"}})]},
     f"{C0}.resources.requests", 'Invalid value: "2": must be less than or equal to cpu limit of 1'),
    ({"containers": [ctr(resources={"requests": {"memory": "-1Gi"}})]}, f"{C0}.resources.requests[memory]",
     'Invalid value: "-1Gi": must be greater than or equal to 0'),
    ({"containers": [ctr(resources={"limits": {"memory": "lots"}})]}, f"{C0}.resources.limits[memory]",
     "Invalid value: \"lots\": quantities must match the regular expression "
     "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    ({"containers": [ctr(resources={"limits": {"gpu": "1"}})]}, f"{C0}.resources.limits[gpu]",
     'Invalid value: "gpu": must be a standard resource type or fully qualified'),
    ({"containers": [ctr(resources={"limits": {"pods": "1"}})]}, f"{C0}.resources.limits[pods]",
     'Invalid value: "pods": must be a standard resource for containers'),
    ({"containers": [ctr(resources={"requests": {"example.com/gpu": "1"}})]}, f"{C0}.resources.limits",
     "Required value: Limit must be set for non overcommitable resources"),
    ({"containers": [ctr(resources={"limits": {"example.com/gpu": "1.5"}})]},
     f"{C0}.resources.limits[example.com/gpu]", 'Invalid value: "1500m": must be an integer'),
    ({"containers": [ctr(imagePullPolicy="Sometimes")]}, f"{C0}.imagePullPolicy",
     'Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"'),
    ({"containers": [ctr(terminationMessagePolicy="Nope")]}, f"{C0}.terminationMessagePolicy",
     'Unsupported value: "Nope": supported values: "File", "FallbackToLogsOnError"'),
    ({"containers": [ctr(livenessProbe={"periodSeconds": 5})]}, f"{C0}.livenessProbe",
     "Required value: must specify a handler type"),
    ({"containers": [ctr(livenessProbe={"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}})]},
     f"{C0}.livenessProbe.tcpSocket", "Forbidden: may not specify more than 1 handler type"),
    ({"containers": [ctr(livenessProbe={"exec": {"command": ["true"]}, "successThreshold": 2})]},
     f"{C0}.livenessProbe.successThreshold", "Invalid value: 2: must be 1"),
    ({"containers": [ctr(readinessProbe={"exec": {"command": ["true"]}, "failureThreshold": -1})]},
     f"{C0}.readinessProbe.failureThreshold", "Invalid value: -1: must be greater than or equal to 0"),
    ({"containers": [ctr(readinessProbe={"exec": {"command": []}})]}, f"{C0}.readinessProbe.exec.command",
     "Required value"),
    ({"containers": [ctr(readinessProbe={"httpGet": {"port": "8080"}})]}, f"{C0}.readinessProbe.httpGet.port",
     'Invalid value: "8080": must contain at least one letter (a-z)'),
    ({"containers": [ctr(readinessProbe={"httpGet": {"port": 80, "scheme": "FTP"}})]},
     f"{C0}.readinessProbe.httpGet.scheme", 'Unsupported value: "FTP": supported values: "HTTP", "HTTPS"'),
    ({"containers": [ctr(readinessProbe={"exec": {"command": ["x"]}, "terminationGracePeriodSeconds": 5})]},
     f"{C0}.readinessProbe.terminationGracePeriodSeconds", "Invalid value: 5: must not be set for readinessProbes"),
    ({"containers": [ctr(lifecycle={"preStop": {"sleep": {"seconds": 60}}})]}, f"{C0}.lifecycle.preStop.sleep",
     "Invalid value: 60: must be greater than 0 and less than terminationGracePeriodSeconds (30). Enable "
     "AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep."),
    ({"containers": [ctr(restartPolicy="Always")]}, f"{C0}.restartPolicy",
     "Forbidden: may not be set for non-init containers"),
    ({"initContainers": [ctr(name="init", livenessProbe={"exec": {"command": ["x"]}})]},
     "spec.initContainers[0].livenessProbe", "Forbidden: may not be set for init containers without restartPolicy=Always"),
    ({"initContainers": [ctr(name="init", restartPolicy="OnFailure")]}, "spec.initContainers[0].restartPolicy",
     'Unsupported value: "OnFailure": supported values: "Always"'),
    ({"containers": [ctr(securityContext={"runAsUser": -1})]}, f"{C0}.securityContext.runAsUser",
     "Invalid value: -1: must be between 0 and 4294967295, inclusive"),
    ({"restartPolicy": "Sometimes"}, "spec.restartPolicy",
     'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'),
    ({"dnsPolicy": "Google"}, "spec.dnsPolicy",
     'Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"'),
    ({"dnsPolicy": "None"}, "spec.dnsConfig", "Required value: must provide `dnsConfig` when `dnsPolicy` is None"),
    ({"dnsConfig": {"nameservers": ["1.1.1.1", "x"]}}, "spec.dnsConfig.nameservers[1]",
     'Invalid value: "x": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
    ({"terminationGracePeriodSeconds": -5}, "spec.terminationGracePeriodSeconds",
     "Invalid value: -5: must be greater than or equal to 0"),
    ({"activeDeadlineSeconds": 0}, "spec.activeDeadlineSeconds",
     "Invalid value: 0: must be between 1 and 2147483647, inclusive"),
    ({"nodeSelector": {"disk": "ssd!"}}, "spec.nodeSelector", None),
    ({"hostname": "Bad_Host"}, "spec.hostname", f'Invalid value: "Bad_Host": {LABEL_MSG}'),
    ({"serviceAccountName": "Bad_SA"}, "spec.serviceAccountName", None),
    ({"hostNetwork": True, "containers": [ctr(ports=[{"containerPort": 80, "hostPort": 81}])]},
     f"{C0}.ports[0].hostPort", "Invalid value: 81: must match `containerPort` when `hostNetwork` is true"),
    ({"tolerations": [{"key": "k", "operator": "Maybe"}]}, "spec.tolerations[0].operator",
     'Unsupported value: "Maybe": supported values: "Equal", "Exists"'),
    ({"tolerations": [{"operator": "Equal", "value": "x"}]}, "spec.tolerations[0].operator",
     'Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys"'),
    ({"tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}]},
     "spec.tolerations[0].effect", "Invalid value: \"NoSchedule\": effect must be 'NoExecute' when "
     "`tolerationSeconds` is set"),
    ({"tolerations": [{"key": "k", "operator": "Exists", "effect": "Sometimes"}]}, "spec.tolerations[0].effect",
     'Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"'),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}},
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
     "Required value: must have at least one node selector term"),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "Near", "values": ["a"]}]}]}}}},
     "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
     ".matchExpressions[0].operator", 'Invalid value: "Near": not a valid selector operator'),
    ({"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 0, "podAffinityTerm": {"topologyKey": "zone"}}]}}},
     "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
     "Invalid value: 0: must be in the range 1-100"),
    ({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}}},
     "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
     "Required value: can not be empty"),
    ({"topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]},
     "spec.topologySpreadConstraints[0].maxSkew", "Invalid value: 0: must be greater than zero"),
    ({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"}]},
     "spec.topologySpreadConstraints[0].whenUnsatisfiable",
     'Unsupported value: "Maybe": supported values: "DoNotSchedule", "ScheduleAnyway"'),
    ({"ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}, "spec.ephemeralContainers",
     "Forbidden: cannot be set on create"),
    ({"nodeName": "n1", "schedulingGates": [{"name": "example.com/gate"}]}, "spec.nodeName",
     "Forbidden: cannot be set until all schedulingGates have been cleared"),
    ({"preemptionPolicy": "Always"}, "spec.preemptionPolicy",
     'Unsupported value: "Always": supported values: "PreemptLowerPriority", "Never"'),
    ({"hostAliases": [{"ip": "nope", "hostnames": ["a"]}]}, "spec.hostAliases[0].ip",
     'Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
    ({"imagePullSecrets": [{"name": "r", "extra": 1}]}, "spec.imagePullSecrets[0]",
     'Invalid value: {"extra":1,"name":"r"}: only name may be set'),
]


@pytest.mark.parametrize(("spec", "field", "message"), CASES)
def test_pod_rule(spec: dict[str, Any], field: str, message: str | None) -> None:
    causes = run("Pod", pod(**spec))
    found = causes_of(causes, field)
    if message is None:
        assert found, causes
    else:
        assert message in found, [(x.field, x.message) for x in causes]


VOLUME_CASES: list[tuple[list[dict[str, Any]], str, str]] = [
    ([{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}], "spec.volumes[0].hostPath",
     "Forbidden: may not specify more than 1 volume type"),
    ([{"name": "v", "hostPath": {"path": ""}}], "spec.volumes[0].hostPath.path", "Required value"),
    ([{"name": "v", "hostPath": {"path": "/x", "type": "Dir"}}], "spec.volumes[0].hostPath.type",
     'Unsupported value: "Dir": supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", '
     '"File", "FileOrCreate", "Socket"'),
    ([{"name": "Bad_Vol", "emptyDir": {}}], "spec.volumes[0].name", f'Invalid value: "Bad_Vol": {LABEL_MSG}'),
    ([{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}], "spec.volumes[1].name", 'Duplicate value: "v"'),
    ([{"name": "v", "secret": {}}], "spec.volumes[0].secret.secretName", "Required value"),
    ([{"name": "v", "secret": {"secretName": "s", "defaultMode": 0o1000}}], "spec.volumes[0].secret.defaultMode",
     "Invalid value: 512: must be a number between 0 and 0777 (octal), both inclusive"),
    ([{"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "/abs"}]}}],
     "spec.volumes[0].configMap.items[0].path", 'Invalid value: "/abs": must be a relative path'),
    ([{"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "..x"}]}}],
     "spec.volumes[0].configMap.items[0].path", "Invalid value: \"..x\": must not start with '..'"),
    ([{"name": "v", "persistentVolumeClaim": {}}], "spec.volumes[0].persistentVolumeClaim.claimName", "Required value"),
    ([{"name": "v", "emptyDir": {"sizeLimit": "-1Gi"}}], "spec.volumes[0].emptyDir.sizeLimit",
     "Forbidden: SizeLimit field must be a valid resource quantity"),
    ([{"name": "v", "nfs": {"server": "s", "path": "rel"}}], "spec.volumes[0].nfs.path",
     'Invalid value: "rel": must be an absolute path'),
    ([{"name": "v", "downwardAPI": {"items": [{"path": "x"}]}}], "spec.volumes[0].downwardAPI",
     "Required value: one of fieldRef and resourceFieldRef is required"),
    ([{"name": "v", "projected": {"sources": [{"secret": {"name": "a"}, "configMap": {"name": "b"}}]}}],
     "spec.volumes[0].projected.sources[0]", "Forbidden: may not specify more than 1 volume type per source"),
    ([{"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 60}}]}}],
     "spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds",
     "Invalid value: 60: may not specify a duration less than 10 minutes"),
]


@pytest.mark.parametrize(("volumes", "field", "message"), VOLUME_CASES)
def test_volume_rule(volumes: list[dict[str, Any]], field: str, message: str) -> None:
    causes = run("Pod", pod(volumes=volumes))
    assert message in causes_of(causes, field), [(x.field, x.message) for x in causes]


def test_full_valid_pod_passes() -> None:
    spec: dict[str, Any] = {
        "initContainers": [ctr(name="init", command=["true"]),
                           ctr(name="sidecar", restartPolicy="Always", readinessProbe={"exec": {"command": ["x"]}})],
        "containers": [ctr(
            ports=[{"name": "http", "containerPort": 8080}],
            env=[{"name": "A", "value": "1"}, {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}},
                 {"name": "LBL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}],
            envFrom=[{"secretRef": {"name": "s"}, "prefix": "S_"}],
            volumeMounts=[{"name": "data", "mountPath": "/data"}, {"name": "cfg", "mountPath": "/cfg", "readOnly": True}],
            resources={"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": 1, "memory": "128Mi",
                                                                                   "example.com/gpu": 1}},
            livenessProbe={"httpGet": {"port": "http", "path": "/healthz"}, "initialDelaySeconds": 3},
            startupProbe={"tcpSocket": {"port": 8080}},
            lifecycle={"preStop": {"sleep": {"seconds": 5}}},
            securityContext={"runAsUser": 1000, "allowPrivilegeEscalation": False},
        )],
        "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "k", "path": "k.txt"}]}}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"operator": "Exists"}, {"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute",
                                                  "tolerationSeconds": 30}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": {"app": "web"}}}],
        "securityContext": {"fsGroup": 2000},
    }
    assert run("Pod", pod(**spec)) == []


def test_pod_annotations() -> None:
    obj = pod()
    obj["metadata"]["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": "lots"}
    assert causes_of(run("Pod", obj), "metadata.annotations[controller.kubernetes.io/pod-deletion-cost]") == [
        'Invalid value: "lots": must be a 32bit integer']
    obj["metadata"]["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": "-100"}
    assert run("Pod", obj) == []
