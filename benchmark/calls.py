# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn the stack's request logs into the benchmark's call counts.

AWS calls come from the recording proxy (``{service, action, account, mutating}``). Each is put in one
bucket: ``sts`` (credentials; counted apart, never as reads or writes), ``eks`` (the issuer lookup),
``provider`` (IAM ``*OpenIDConnectProvider*`` actions) or ``role`` (every other IAM action: roles, their
trust, policies, tags, instance profiles, managed-policy lookups). Reads and mutating calls are the
proxy's own classification.

Kubernetes calls come from the emulator (``{method, path, query, mutating, dry_run}``): ``reads`` are
GET/HEAD (discovery included), ``mutating`` are writes that were stored, and ``dry_run`` writes (check
mode) are counted apart.
"""

import collections

AWS_BUCKETS = ("provider", "role", "eks", "sts", "organizations")
DISCOVERY_PREFIXES = ("/api", "/apis", "/version", "/openapi")


def aws_bucket(service, action):
    """Which resource an AWS call works on: provider, role, eks, sts or organizations (the inventory plugin's reads)."""
    if service in ("sts", "eks", "organizations"):
        return service
    if "OpenIDConnectProvider" in action:
        return "provider"
    return "role"


def _rate(count, per):
    return round(count / per, 2) if per else None


def summarise_aws(requests, target_accounts, roles_per_account):
    """Counts of ``requests`` in total, per bucket, per target account, per role and per provider."""
    targets = set(target_accounts)
    buckets = {bucket: {"reads": 0, "mutating": 0} for bucket in AWS_BUCKETS}
    per_account = collections.Counter()
    by_action = collections.Counter()
    for request in requests:
        bucket = aws_bucket(request["service"], request["action"])
        kind = "mutating" if request["mutating"] else "reads"
        buckets[bucket][kind] += 1
        by_action[f"{request['service']}:{request['action']}"] += 1
        if bucket not in ("sts", "organizations") and request["account"] in targets:
            per_account[(request["account"], kind)] += 1
    accounts = len(targets)
    reads = [per_account[(account, "reads")] for account in targets]
    writes = [per_account[(account, "mutating")] for account in targets]
    return {
        "total": len(requests),
        "reads": sum(b["reads"] for name, b in buckets.items() if name not in ("sts", "organizations")),
        "mutating": sum(b["mutating"] for name, b in buckets.items() if name not in ("sts", "organizations")),
        "sts": buckets["sts"]["reads"] + buckets["sts"]["mutating"],
        "organizations": buckets["organizations"]["reads"] + buckets["organizations"]["mutating"],
        "issuer_reads": sum(count for action, count in by_action.items() if action.startswith("eks:GET /clusters/")),
        "buckets": buckets,
        "per_account": {
            "reads": _rate(sum(reads), accounts), "mutating": _rate(sum(writes), accounts),
            "sts": _rate(buckets["sts"]["reads"] + buckets["sts"]["mutating"], accounts),
            "reads_min": min(reads, default=0), "reads_max": max(reads, default=0),
            "mutating_min": min(writes, default=0), "mutating_max": max(writes, default=0),
        },
        "per_role": {kind: _rate(buckets["role"][kind], accounts * roles_per_account) for kind in ("reads", "mutating")},
        "per_provider": {kind: _rate(buckets["provider"][kind], accounts) for kind in ("reads", "mutating")},
        "by_action": dict(sorted(by_action.items())),
    }


def kube_resource(path):
    """What a Kubernetes API path works on: serviceaccount, namespace, discovery or other."""
    if "/serviceaccounts" in path:
        return "serviceaccount"
    if path.startswith("/api/v1/namespaces"):
        return "namespace"
    if path.startswith(DISCOVERY_PREFIXES):
        return "discovery"
    return "other"


def kube_kind(request):
    """reads, mutating (stored writes) or dry_run (check-mode writes)."""
    if not request["mutating"]:
        return "reads"
    return "dry_run" if request["dry_run"] else "mutating"


def summarise_kube(requests, service_accounts):
    """Counts of Kubernetes ``requests``: reads / mutating / dry_run, in total, per resource and per ServiceAccount."""
    totals = collections.Counter(kube_kind(request) for request in requests)
    by_resource = collections.defaultdict(collections.Counter)
    by_call = collections.Counter()
    for request in requests:
        by_resource[kube_resource(request["path"])][kube_kind(request)] += 1
        by_call[f"{request['method']} {kube_resource(request['path'])}"] += 1
    return {
        "total": len(requests),
        "reads": totals["reads"],
        "mutating": totals["mutating"],
        "dry_run": totals["dry_run"],
        "by_resource": {name: dict(counts) for name, counts in sorted(by_resource.items())},
        "per_service_account": {kind: _rate(totals[kind], service_accounts) for kind in ("reads", "mutating", "dry_run")},
        "by_call": dict(sorted(by_call.items())),
    }
