# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters for the verify playbook: what to verify (from the rollout's role plan) and the report table."""

from ansible_collections.torque.eks_irsa.plugins.module_utils.table import table_lines

HEADER = ["ACCOUNT", "HOST", "ROLE", "SERVICE ACCOUNT", "RESULT", "CODE"]


def verify_checks(plan):
    """The ``checks`` option of irsa_verify for one account: one per role and ServiceAccount of its role plan.

    The plan is what the rollout converges, so verify looks at exactly the roles and ServiceAccounts the
    rollout makes, with the same defaults (ServiceAccount names and namespaces, role paths).
    """
    return [{
        "role_name": role["params"]["name"],
        "role_path": role["params"].get("path") or "/",
        "namespace": service_account["namespace"],
        "service_account": service_account["name"],
    } for role in plan or [] for service_account in role["service_accounts"]]


def verify_proof_checks(findings):
    """The ``checks`` option of irsa_token_proof: each (namespace, ServiceAccount, role ARN) irsa_verify looked at, once."""
    seen = {}
    for finding in findings or []:
        seen.setdefault((finding["namespace"], finding["service_account"], finding["role_arn"]), None)
    return [{"namespace": namespace, "service_account": service_account, "role_arn": role_arn}
            for namespace, service_account, role_arn in seen]


def _account(host, facts):
    result = facts.get("eks_irsa_verify_result") or {}
    error = facts.get("eks_irsa_verify_error")
    findings = [] if error else list(result.get("findings") or [])
    proof = facts.get("eks_irsa_verify_proof") or {}
    if not error:  # the optional end-to-end proof (eks_irsa_verify_token_proof)
        findings.extend(proof.get("findings") or [])
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
            yield [account["account_id"], host, "-", "-", "FAILED", "-"], [f"could not verify the account: {account['error']}"]
            continue
        for finding in account["findings"]:
            cells = [account["account_id"], host, finding.get("role_name") or "-", finding.get("service_account") or "-",
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
    return table_lines(HEADER, [cells for cells, _details in rows], [details for _cells, details in rows])


def verify_report(hosts, hostvars):
    """``{lines, accounts, errors, warnings, failed}`` of a verify run, from what each account's tasks registered.

    ``accounts`` maps host -> ``{account_id, findings, errors, warnings, error}`` (``error`` when the account could
    not be verified at all); ``failed`` lists the hosts with an error finding or no verification.
    """
    accounts = {host: _account(host, hostvars[host]) for host in hosts}
    accounts = dict(sorted(accounts.items(), key=lambda item: (item[1]["account_id"], item[0])))
    errors = sum(a["errors"] for a in accounts.values())
    warnings = sum(a["warnings"] for a in accounts.values())
    failed = [host for host, a in accounts.items() if a["errors"] or a["error"]]
    lines = verify_lines(accounts)
    lines.append(f"{len(accounts)} account(s): {errors} error(s), {warnings} warning(s)"
                 + (f"; not verified: {', '.join(h for h, a in accounts.items() if a['error'])}" if any(a["error"] for a in accounts.values()) else ""))
    return {"lines": lines, "accounts": accounts, "errors": errors, "warnings": warnings, "failed": failed}


class FilterModule:
    """Verify filters."""

    def filters(self):
        return {
            "verify_checks": verify_checks,
            "verify_proof_checks": verify_proof_checks,
            "verify_report": verify_report,
        }
