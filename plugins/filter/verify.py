# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters for the verify playbook: what to verify (from the rollout's role plan) and the report table."""

from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_cluster_arn
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_access
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import POD_IDENTITY_MODES
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.summary import published_stats
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.summary import table_lines

HEADER = ["ACCOUNT", "HOST", "CLUSTER", "ROLE", "SERVICE ACCOUNT", "RESULT", "CODE"]
CLUSTER_COLUMN = HEADER.index("CLUSTER")  # shown only when the run has several clusters


def verify_checks(plan, cluster=None):
    """The ``checks`` option of irsa_verify for one account: one per role and ServiceAccount of its role plan (of
    ``cluster``, when given).

    The plan is what the rollout converges, so verify looks at exactly the roles and ServiceAccounts the
    rollout makes, with the same defaults (ServiceAccount names and namespaces, role paths).
    """
    return [dict({
        "role_name": role["params"]["name"],
        "role_path": role["params"].get("path") or "/",
        "namespace": service_account["namespace"],
        "service_account": service_account["name"],
    }, **({"audience": role["params"]["audience"]} if role["params"].get("audience") else {}))
        for role in plan or [] if role.get("mode") != "pod_identity"  # IRSA's checks: irsa and irsa_and_pod_identity
        for service_account in role["service_accounts"] if cluster is None or service_account.get("cluster") == cluster]


def _pod_identity_checks(plan, cluster):
    """irsa_verify's ``pod_identity`` checks of the roles in mode pod_identity, for ``cluster`` (its entry of the run)."""
    checks = []
    for role in plan:
        if role.get("mode") not in POD_IDENTITY_MODES:
            continue
        arns = {split_cluster_arn(entry["cluster_arn"])[3]: entry["cluster_arn"] for entry in role["params"]["pod_identity"]}
        checks.extend({"role_name": role["params"]["name"], "role_path": role["params"].get("path") or "/",
                       "cluster_name": association["cluster_name"], "cluster_arn": arns[association["cluster_name"]],
                       "namespace": association["namespace"], "service_account": association["service_account"],
                       "irsa_too": role["mode"] == "irsa_and_pod_identity"}
                      for association in role["associations"] if association["cluster_name"] == cluster["name"])
    return checks


def _resources_of(reads, cluster, kind):
    """The objects of ``kind`` read in ``cluster``'s namespaces (``cluster_reads``)."""
    return [resource for group in (reads or {}).get("groups") or [] if group.get("cluster") == cluster
            for resource in (group.get("objects") or {}).get(kind) or []]


def unreadable_clusters(reads):
    """The names of the clusters that could not be read (``cluster_reads``' failures)."""
    return {found["cluster"] for found in (reads or {}).get("failures") or []}


def verify_runs(plan, clusters, current_issuers=None, reads=None):
    """irsa_verify's inputs for one account (``eks_irsa_plan[host]``), one per present cluster its roles trust that could
    be read: ``[{name, cluster, issuer, cluster_issuer, checks, service_accounts, pods, kubeconfig, context}]``.

    ``clusters`` are the run's (``eks_irsa_run_clusters``: the issuer as the inventory gave it, or looked up);
    ``current_issuers`` maps a cluster to its issuer now, where the playbook could describe it; ``reads`` are the
    ServiceAccounts and Pods of the plan's (cluster, namespace) groups and the clusters that could not be read
    (filter ``cluster_reads``; :func:`verify_report` reports those). ``cluster`` is None with a single cluster, so a
    single-cluster run's findings name no cluster.
    """
    by_name = {cluster["name"]: cluster for cluster in clusters}
    runs = []
    spokes = [{"role_name": role["params"]["name"], "role_path": role["params"].get("path") or "/",
               "hub_role_arn": role["hub"]["role_arn"], "external_id": role["params"]["trusted_role"].get("external_id"),
               "namespace": role["hub"]["namespace"], "service_account": role["hub"]["service_account"]}
              for role in plan["roles"] if role.get("hub")]
    hub = next(({"role_name": role["params"]["name"], "spoke_arns": role.get("spoke_arns") or [],
                 "namespace": role["service_accounts"][0]["namespace"], "service_account": role["service_accounts"][0]["name"]}
                for role in plan["roles"] if role.get("hub_role") and role["service_accounts"]), None)
    for provider in plan["providers"]:
        cluster = by_name.get(provider["cluster"])
        if provider["state"] != "present" or cluster is None or cluster["name"] in unreadable_clusters(reads):
            continue
        runs.append({
            "name": cluster["name"],
            "cluster": cluster["name"] if len(clusters) > 1 else None,
            "issuer": cluster["issuer"],
            "cluster_issuer": (current_issuers or {}).get(cluster["name"]),
            "checks": verify_checks(plan["roles"], cluster["name"]),
            "service_accounts": _resources_of(reads, cluster["name"], "ServiceAccount"),
            "pods": _resources_of(reads, cluster["name"], "Pod"),
            "kubeconfig": cluster.get("kubeconfig"),
            "context": cluster.get("context"),
            "spokes": [], "hub": None,
        })
    # EKS Pod Identity's checks, in the run of their cluster, or one of their own where the account has no provider there.
    for cluster in clusters:
        checks = _pod_identity_checks(plan["roles"], cluster) if cluster["state"] == "present" else []
        if not checks or cluster["name"] in unreadable_clusters(reads):
            continue
        run = next((run for run in runs if run["name"] == cluster["name"]), None)
        if run is None:
            run = {"name": cluster["name"], "cluster": cluster["name"] if len(clusters) > 1 else None, "issuer": None,
                   "cluster_issuer": None, "checks": [], "service_accounts": _resources_of(reads, cluster["name"], "ServiceAccount"),
                   "pods": _resources_of(reads, cluster["name"], "Pod"), "kubeconfig": cluster.get("kubeconfig"),
                   "context": cluster.get("context"), "spokes": [], "hub": None}
            runs.append(run)
        run["pod_identity"] = checks
    if spokes or hub:  # the hub topology's checks, once per account: in its first run, or one of their own
        if not runs:
            runs.append({"name": None, "cluster": None, "issuer": None, "cluster_issuer": None, "checks": [], "service_accounts": [],
                         "pods": [], "kubeconfig": None, "context": None})
        runs[0].update(spokes=spokes, hub=hub)
    return runs


def verify_proof_checks(findings):
    """The ``checks`` option of irsa_token_proof: each (namespace, ServiceAccount, role ARN) irsa_verify looked at, once."""
    seen = {}
    for finding in findings or []:
        if not finding.get("via_hub"):  # a spoke role is reached through the hub role, not with a token
            seen.setdefault((finding["namespace"], finding["service_account"], finding["role_arn"]), None)
    return [{"namespace": namespace, "service_account": service_account, "role_arn": role_arn}
            for namespace, service_account, role_arn in seen]


def verify_proof_runs(verify_results):
    """irsa_token_proof's inputs, one per irsa_verify run (``results`` of the loop over :func:`verify_runs`): the run's
    cluster and access, and as ``checks`` each (namespace, ServiceAccount, role ARN) that run looked at."""
    runs = []
    for result in verify_results or []:
        run = result[result.get("ansible_loop_var") or "item"]
        checks = verify_proof_checks(result.get("findings"))
        if checks:  # a run of the hub topology's spoke roles alone has no token to prove
            runs.append(dict({key: run.get(key) for key in ("name", "cluster", "issuer", "kubeconfig", "context")}, checks=checks))
    return runs


def _findings(registered):
    """The findings a task registered, once or in a loop over :func:`verify_runs` or :func:`verify_proof_runs` (each
    with the run's ``cluster``)."""
    registered = registered or {}
    if "results" not in registered:
        return list(registered.get("findings") or [])
    findings = []
    for result in registered["results"]:
        cluster = (result.get(result.get("ansible_loop_var") or "item") or {}).get("cluster")
        findings.extend(dict(finding, cluster=cluster) if cluster else finding for finding in result.get("findings") or [])
    return findings


def _unreadable_findings(host, facts, failures):
    """One error finding per cluster that could not be read and in which the account's roles have a provider: the
    account is not verified there (``cluster-unreachable``, or ``cluster-api-error`` when the API answered an error)."""
    if not failures:
        return []
    plan = (facts.get("eks_irsa_plan") or {}).get(host) or {}
    several = len(facts.get("eks_irsa_run_clusters") or []) > 1
    trusted = {provider["cluster"] for provider in plan.get("providers") or [] if provider.get("state") == "present"}
    findings = []
    for found in failures or []:
        if found["cluster"] in trusted:
            finding = {"code": "cluster-api-error" if found["kind"] == kube_access.API else "cluster-unreachable", "severity": "error",
                       "message": f"{found['summary']}; {kube_access.VERIFY}", "fix": found["fix"],
                       "pod_error": None, "role_name": None, "namespace": None, "service_account": None}
            findings.append(dict(finding, cluster=found["cluster"]) if several else finding)
    return findings


def _account(host, facts, failures=None):
    error = facts.get("eks_irsa_verify_error")
    findings = [] if error else _findings(facts.get("eks_irsa_verify_result"))
    if not error:  # the optional end-to-end proof (eks_irsa_verify_token_proof)
        findings.extend(_findings(facts.get("eks_irsa_verify_proof")))
        findings.extend(_unreadable_findings(host, facts, failures))
    return {
        "account_id": str(facts.get("eks_irsa_account_id", "")),
        "findings": findings,
        "errors": sum(1 for f in findings if f.get("severity") == "error"),
        "warnings": sum(1 for f in findings if f.get("severity") == "warning"),
        "error": error,
    }


def _rows(accounts):
    """``(cells, details)`` per finding; details are the message, the pod's error and the fix, for non-ok findings."""
    for host, account in accounts.items():
        if account["error"]:
            yield [account["account_id"], host, "-", "-", "-", "FAILED", "-"], [f"could not verify the account: {account['error']}"]
            continue
        for finding in account["findings"]:
            cells = [account["account_id"], host, finding.get("cluster") or "-", finding.get("role_name") or "-",
                     finding.get("service_account") or "-",
                     str(finding.get("severity", "")).upper(), finding.get("code", "")]
            details = []
            if finding.get("severity") != "ok":
                details.append(finding.get("message") or "")
                if finding.get("pod_error"):
                    details.append(f"pod sees: {finding['pod_error']}")
                details.append(f"fix: {finding.get('fix') or ''}")
            yield cells, details


def verify_lines(accounts):
    """The findings of every account as a table (ok rows included), each problem followed by its explanation and fix."""
    rows = list(_rows(accounts))
    several = any(finding.get("cluster") for account in accounts.values() for finding in account["findings"])
    header, cells = HEADER, [cells for cells, _details in rows]
    if not several:
        header = HEADER[:CLUSTER_COLUMN] + HEADER[CLUSTER_COLUMN + 1:]
        cells = [row[:CLUSTER_COLUMN] + row[CLUSTER_COLUMN + 1:] for row in cells]
    return table_lines(header, cells, [details for _cells, details in rows])


def verify_report(hosts, hostvars, cluster_failures=None):
    """``{lines, accounts, errors, warnings, failed}`` of a verify run, from what each account's tasks registered, and
    ``cluster_failures``, the clusters that could not be read (``cluster_reads``' failures: a finding of each account
    whose roles they serve).

    ``accounts`` maps host -> ``{account_id, findings, errors, warnings, error}`` (``error`` when the account could
    not be verified at all); ``failed`` lists the hosts with an error finding or no verification.
    """
    accounts = {host: _account(host, hostvars[host], cluster_failures) for host in hosts}
    accounts = dict(sorted(accounts.items(), key=lambda item: (item[1]["account_id"], item[0])))
    errors = sum(a["errors"] for a in accounts.values())
    warnings = sum(a["warnings"] for a in accounts.values())
    failed = [host for host, a in accounts.items() if a["errors"] or a["error"]]
    lines = verify_lines(accounts)
    lines.append(f"{len(accounts)} account(s): {errors} error(s), {warnings} warning(s)"
                 + (f"; not verified: {', '.join(h for h, a in accounts.items() if a['error'])}" if any(a["error"] for a in accounts.values()) else ""))
    return {"lines": lines, "accounts": accounts, "errors": errors, "warnings": warnings, "failed": failed}


def verify_stats(report):
    """What verify publishes with set_stats (:func:`~.summary.published_stats`): ``eks_irsa_verify``, and each account's
    findings under its own key, which survives the shallow merge of an AWX workflow's sliced job."""
    return published_stats("verify", report)


class FilterModule:
    """Verify filters."""

    def filters(self):
        return {
            "verify_checks": verify_checks,
            "verify_runs": verify_runs,
            "verify_proof_checks": verify_proof_checks,
            "verify_proof_runs": verify_proof_runs,
            "verify_report": verify_report,
            "verify_stats": verify_stats,
        }
