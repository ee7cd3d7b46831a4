# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The verify playbook's filters (plugins/filter/verify.py): the checks from the rollout's plan, and the report."""

from ansible_collections.torque.eks_irsa.plugins.filter import verify
from ansible_collections.torque.eks_irsa.plugins.filter.verify import verify_checks
from ansible_collections.torque.eks_irsa.plugins.filter.verify import verify_proof_checks
from ansible_collections.torque.eks_irsa.plugins.filter.verify import verify_proof_runs
from ansible_collections.torque.eks_irsa.plugins.filter.verify import verify_report
from ansible_collections.torque.eks_irsa.plugins.filter.verify import verify_runs
from ansible_collections.torque.eks_irsa.plugins.filter.verify import verify_stats
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.role_plans import role_plans

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


def finding(code, severity, role="torque-runner", sa="torque-runner-dev", account="222222222222", **extra):
    base = dict(account_id=account, role_name=role, role_arn=f"arn:aws:iam::{account}:role/{role}", namespace="envs",
                service_account=sa, code=code, severity=severity, message=f"{code} happened", pod_error=None, fix=f"fix {code}")
    return dict(base, **extra)


def test_the_filters_are_registered():
    assert set(verify.FilterModule().filters()) == {"verify_checks", "verify_runs", "verify_proof_checks", "verify_proof_runs",
                                                    "verify_report", "verify_stats"}


def test_checks_come_from_the_rollouts_own_plan_with_its_defaults():
    plan = role_plans([{"name": "torque-runner"}, {"name": "reader", "service_account": "reads", "path": "/irsa/"}],
                      [{"name": "agents", "issuer": ISSUER, "state": "present"}], "envs", "222222222222", suffix="dev")
    assert verify_checks(plan) == [
        {"role_name": "torque-runner", "role_path": "/", "namespace": "envs", "service_account": "torque-runner-dev"},
        {"role_name": "reader", "role_path": "/irsa/", "namespace": "envs", "service_account": "reads"},
    ]
    assert verify_checks(None) == []
    (vault,) = role_plans([{"name": "vault", "audience": "vault.example.com"}], [{"name": "agents", "issuer": ISSUER, "state": "present"}],
                          "envs", "222222222222", suffix="dev")
    assert verify_checks([vault])[0]["audience"] == "vault.example.com"


def test_the_report_has_a_row_per_finding_ok_rows_included_and_explains_the_problems():
    hostvars = {
        "prod": {"eks_irsa_account_id": "333333333333", "eks_irsa_verify_result": {"findings": [
            finding("provider-missing", "error", sa="torque-runner-prod", account="333333333333", pod_error="InvalidIdentityToken"),
            finding("trust-subject-broad", "warning", sa="torque-runner-prod", account="333333333333")]}},
        "dev": {"eks_irsa_account_id": "222222222222", "eks_irsa_verify_result": {"findings": [finding("ok", "ok")]}},
    }
    report = verify_report(["prod", "dev"], hostvars)
    assert list(report["accounts"]) == ["dev", "prod"]  # by account ID
    assert (report["errors"], report["warnings"], report["failed"]) == (1, 1, ["prod"])
    assert report["accounts"]["prod"]["errors"] == 1 and report["accounts"]["dev"]["findings"][0]["code"] == "ok"
    lines = report["lines"]
    assert lines[0].split() == ["ACCOUNT", "HOST", "ROLE", "SERVICE", "ACCOUNT", "RESULT", "CODE"]
    assert lines[1].split() == ["222222222222", "dev", "torque-runner", "torque-runner-dev", "OK", "ok"]
    assert lines[2].split() == ["333333333333", "prod", "torque-runner", "torque-runner-prod", "ERROR", "provider-missing"]
    assert lines[3:6] == ["    provider-missing happened", "    pod sees: InvalidIdentityToken", "    fix: fix provider-missing"]
    assert lines[6].split()[-2:] == ["WARNING", "trust-subject-broad"]
    assert lines[7:9] == ["    trust-subject-broad happened", "    fix: fix trust-subject-broad"]  # no pod error to show
    assert lines[-1] == "2 account(s): 1 error(s), 1 warning(s)"
    # The columns line up: every row starts its CODE cell where the header does.
    column = lines[0].index("CODE")
    assert all(line[column:].split()[0] in ("ok", "provider-missing", "trust-subject-broad") for line in (lines[1], lines[2], lines[6]))


def test_verify_stats_publish_each_accounts_findings_under_a_key_of_its_own():
    hostvars = {"prod.eu": {"eks_irsa_account_id": "333333333333", "eks_irsa_verify_result": {"findings": [finding("provider-missing", "error")]}},
                "dev": {"eks_irsa_account_id": "222222222222", "eks_irsa_verify_result": {"findings": [finding("ok", "ok")]}}}
    report = verify_report(["prod.eu", "dev"], hostvars)
    stats = verify_stats(report)
    assert sorted(stats) == ["eks_irsa_verify", "eks_irsa_verify_account_222222222222_dev", "eks_irsa_verify_account_333333333333_prod_eu"]
    assert stats["eks_irsa_verify"] == {key: value for key, value in report.items() if key != "lines"}
    assert stats["eks_irsa_verify_account_333333333333_prod_eu"] == dict({"host": "prod.eu"}, **report["accounts"]["prod.eu"])
    assert stats["eks_irsa_verify_account_333333333333_prod_eu"]["errors"] == 1


def test_an_account_that_could_not_be_verified_fails_and_says_why():
    hostvars = {"dev": {"eks_irsa_account_id": "222222222222", "eks_irsa_verify_error": "could not assume arn:...: AccessDenied",
                        "eks_irsa_verify_result": {"failed": True}}}
    report = verify_report(["dev"], hostvars)
    assert report["failed"] == ["dev"] and report["errors"] == 0
    assert report["accounts"]["dev"] == {"account_id": "222222222222", "findings": [], "errors": 0, "warnings": 0,
                                         "error": "could not assume arn:...: AccessDenied"}
    assert report["lines"][1].split() == ["222222222222", "dev", "-", "-", "FAILED", "-"]
    assert report["lines"][2] == "    could not verify the account: could not assume arn:...: AccessDenied"
    assert report["lines"][-1] == "1 account(s): 0 error(s), 0 warning(s); not verified: dev"


def test_the_proof_checks_each_service_account_and_role_verify_looked_at_once():
    findings = [finding("trust-subject-broad", "warning"), finding("pod-restart-needed", "warning"),
                finding("ok", "ok", role="reader", sa="reads"), finding("ok", "ok", role="reader", sa="reads", namespace="team-b")]
    assert verify_proof_checks(findings) == [
        {"namespace": "envs", "service_account": "torque-runner-dev", "role_arn": "arn:aws:iam::222222222222:role/torque-runner"},
        {"namespace": "envs", "service_account": "reads", "role_arn": "arn:aws:iam::222222222222:role/reader"},
        {"namespace": "team-b", "service_account": "reads", "role_arn": "arn:aws:iam::222222222222:role/reader"}]


def test_the_proofs_findings_join_the_accounts_findings_and_a_failed_proof_fails_the_run():
    hostvars = {"dev": {"eks_irsa_account_id": "222222222222",
                        "eks_irsa_verify_result": {"findings": [finding("ok", "ok")]},
                        "eks_irsa_verify_proof": {"findings": [finding("token-proof-failed", "error", pod_error="AccessDenied")]}},
                "prod": {"eks_irsa_account_id": "333333333333",
                         "eks_irsa_verify_result": {"findings": [finding("ok", "ok", account="333333333333")]},
                         "eks_irsa_verify_proof": {"skipped": True}}}
    report = verify_report(["dev", "prod"], hostvars)
    assert [f["code"] for f in report["accounts"]["dev"]["findings"]] == ["ok", "token-proof-failed"]
    assert [f["code"] for f in report["accounts"]["prod"]["findings"]] == ["ok"]
    assert report["failed"] == ["dev"] and report["errors"] == 1


def test_verify_runs_once_per_present_cluster_the_account_trusts_with_that_clusters_objects():
    clusters = [{"name": "blue", "state": "present", "issuer": ISSUER + "/", "kubeconfig": "/k/blue"},
                {"name": "green", "state": "present", "issuer": "https://oidc.example/green", "context": "g"},
                {"name": "old", "state": "absent", "issuer": "https://oidc.example/old"}]
    plan = {"providers": [{"cluster": "green", "state": "present"}, {"cluster": "old", "state": "absent"}],
            "roles": role_plans([{"name": "runner"}, {"name": "blue-only", "clusters": ["blue"]}],
                                [dict(c, issuer=c["issuer"].rstrip("/")) for c in clusters], "envs", "222222222222", suffix="dev")}
    plan["providers"].insert(0, {"cluster": "blue", "state": "present"})
    read = {"groups": [{"cluster": "blue", "objects": {"ServiceAccount": [{"metadata": {"name": "in-blue"}}], "Pod": []}},
                       {"cluster": "green", "objects": {"ServiceAccount": [{"metadata": {"name": "in-green"}}],
                                                        "Pod": [{"metadata": {"name": "in-green"}}]}}],
            "failures": []}
    blue, green = verify_runs(plan, clusters, {"blue": "https://oidc.example/now"}, read)
    assert (blue["name"], blue["cluster"], blue["issuer"], blue["cluster_issuer"], blue["kubeconfig"]) == (
        "blue", "blue", ISSUER + "/", "https://oidc.example/now", "/k/blue")  # the issuer as given: verify judges its form
    assert [check["role_name"] for check in blue["checks"]] == ["runner", "blue-only"]
    assert [check["role_name"] for check in green["checks"]] == ["runner"]
    assert blue["service_accounts"] == [{"metadata": {"name": "in-blue"}}] and blue["pods"] == []
    assert green["service_accounts"] == green["pods"] == [{"metadata": {"name": "in-green"}}]
    assert (green["cluster_issuer"], green["context"]) == (None, "g")
    (single,) = verify_runs(plan, clusters[:1], None, read)
    assert single["cluster"] is None and single["name"] == "blue"  # one cluster: findings keep their shape
    # A cluster that could not be read gets no run (verify_report reports it); the other is verified.
    down = dict(read, failures=[{"cluster": "green", "kind": "connect", "summary": "cluster green: cannot connect", "fix": "f"}])
    assert [run["name"] for run in verify_runs(plan, clusters, None, down)] == ["blue"]


def test_an_unreadable_cluster_is_an_error_finding_of_each_account_it_serves_and_the_others_are_verified():
    clusters = [{"name": "blue"}, {"name": "green"}]
    plans = {"dev": {"providers": [{"cluster": "blue", "state": "present"}, {"cluster": "green", "state": "present"}]},
             "prod": {"providers": [{"cluster": "blue", "state": "present"}]}}
    hostvars = {host: {"eks_irsa_account_id": account, "eks_irsa_plan": plans, "eks_irsa_run_clusters": clusters,
                       "eks_irsa_verify_result": {"results": [
                           {"ansible_loop_var": "_run", "_run": {"cluster": "blue"}, "findings": [finding("ok", "ok", account=account)]}]}}
                for host, account in (("dev", "222222222222"), ("prod", "333333333333"))}
    failures = [{"cluster": "green", "kind": "connect", "summary": "cluster green: cannot connect to its Kubernetes API server "
                 "http://127.0.0.1:1 (kubeconfig /k/green, context g): connection refused", "fix": "make that API server reachable"},
                {"cluster": "old", "kind": "api", "summary": "cluster old: refused", "fix": "x"}]
    report = verify_report(["dev", "prod"], hostvars, failures)
    assert [(f.get("cluster"), f["code"]) for f in report["accounts"]["dev"]["findings"]] == [("blue", "ok"), ("green", "cluster-unreachable")]
    unreachable = report["accounts"]["dev"]["findings"][1]
    assert unreachable["severity"] == "error" and unreachable["fix"] == "make that API server reachable"
    assert unreachable["message"].startswith("cluster green: cannot connect to its Kubernetes API server http://127.0.0.1:1")
    assert "not verified in that cluster" in unreachable["message"]
    assert [f["code"] for f in report["accounts"]["prod"]["findings"]] == ["ok"]
    assert report["failed"] == ["dev"] and report["errors"] == 1
    assert any("cluster-unreachable" in line for line in report["lines"]) and "    fix: make that API server reachable" in report["lines"]
    api = [dict(failures[0], kind="api")]
    assert [f["code"] for f in verify_report(["dev"], hostvars, api)["accounts"]["dev"]["findings"]] == ["ok", "cluster-api-error"]


def test_the_report_of_several_clusters_names_each_findings_cluster():
    hostvars = {"dev": {"eks_irsa_account_id": "222222222222", "eks_irsa_verify_result": {"results": [
        {"ansible_loop_var": "_run", "_run": {"cluster": "blue"}, "findings": [finding("ok", "ok")]},
        {"ansible_loop_var": "_run", "_run": {"cluster": "green"}, "findings": [finding("provider-missing", "error")]}]}}}
    report = verify_report(["dev"], hostvars)
    assert report["lines"][0].split()[:3] == ["ACCOUNT", "HOST", "CLUSTER"]
    assert [line.split()[2] for line in report["lines"][1:3]] == ["blue", "green"]
    assert [f["cluster"] for f in report["accounts"]["dev"]["findings"]] == ["blue", "green"] and report["failed"] == ["dev"]
    single = {"dev": {"eks_irsa_account_id": "222222222222", "eks_irsa_verify_result": {"results": [
        {"ansible_loop_var": "_run", "_run": {"cluster": None}, "findings": [finding("ok", "ok")]}]}}}
    report = verify_report(["dev"], single)
    assert "CLUSTER" not in report["lines"][0] and "cluster" not in report["accounts"]["dev"]["findings"][0]


def test_each_proof_run_keeps_its_verify_runs_cluster_and_access_and_its_findings_become_its_checks():
    results = [{"ansible_loop_var": "_run", "findings": [finding("ok", "ok"), finding("pod-stale", "warning")],
                "_run": {"name": "blue", "cluster": "blue", "issuer": ISSUER, "kubeconfig": "/k/blue", "context": None,
                         "pods": [{"metadata": {"name": "p"}}]}},
               {"ansible_loop_var": "_run", "findings": [finding("ok", "ok", sa="other")],
                "_run": {"name": "green", "cluster": "green", "issuer": "https://oidc.example/green", "context": "g"}}]
    blue, green = verify_proof_runs(results)
    assert blue == {"name": "blue", "cluster": "blue", "issuer": ISSUER, "kubeconfig": "/k/blue", "context": None,
                    "checks": [{"namespace": "envs", "service_account": "torque-runner-dev",
                                "role_arn": "arn:aws:iam::222222222222:role/torque-runner"}]}
    assert (green["kubeconfig"], green["context"], [c["service_account"] for c in green["checks"]]) == (None, "g", ["other"])
    # the proof's findings are reported under the run's cluster, as the verify run's are
    hostvars = {"dev": {"eks_irsa_account_id": "222222222222", "eks_irsa_verify_result": {"results": results},
                        "eks_irsa_verify_proof": {"results": [
                            {"ansible_loop_var": "_run", "_run": green, "findings": [finding("token-proof-failed", "error", sa="other")]}]}}}
    findings = verify_report(["dev"], hostvars)["accounts"]["dev"]["findings"]
    assert [(f["cluster"], f["code"]) for f in findings] == [
        ("blue", "ok"), ("blue", "pod-stale"), ("green", "ok"), ("green", "token-proof-failed")]
    assert verify_proof_runs(None) == []
