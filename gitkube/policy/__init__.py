"""ValidatingAdmissionPolicy (CEL): compile policies, match requests, evaluate bindings.

Pure (no I/O): the API server's admission (:mod:`gitkube.apiserver.admission_policy`) and
pre-flight read policies, bindings and params themselves and hand them in.
"""
