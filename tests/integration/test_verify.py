# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The verify playbook, as users run it: ``ansible-playbook torque.eks_irsa.verify -i inventory.yml``.

One rollout (three target accounts, many roles in the third) must verify clean, reading only. Then each setup
users break in the field is built on the stack, with boto3 in the account (as that account) or with kubectl,
one breakage per account or role so that they do not mask each other, and one verify run (in check mode, which
must not matter for a read-only playbook) must fail and name the right code for each account and role. Both runs
make the end-to-end token proof against the stack's checking STS, and then a pod of each ServiceAccount (a process on
the AWS SDK's own credential chain) must see exactly the error verify predicted.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess

import pytest
import yaml

from tests.conftest import ANSIBLE_BIN, PlaybookRun, ansible_env
from tests.integration.reliability import KUBECTL, ROLE_ARN_ANNOTATION, Scenario, delete_role, failures, kube_writes
from tests.integration.reliability import mutating_aws_requests, task_results

pytestmark = pytest.mark.integration

VERIFY = "torque.eks_irsa.verify"
ROLLOUT = "torque.eks_irsa.rollout"
REPORT_TASK = "Collect the findings of every account"
ACCOUNTS = ("666666666601", "666666666602", "666666666603", "666666666604")
OTHER_ISSUER = "https://oidc.eks.us-west-2.amazonaws.com/id/0LDC1U5TER00000000000000000000AA"
# The third account's roles, each broken in one way (the clean one stays clean), keyed by what breaks them.
BREAKAGES = ("clean", "scheme", "slash", "audience", "audlike", "namespace", "sa", "principal", "big", "wildcard", "deleted",
             "annot-other", "annot-missing")


READS = {"managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}


def role_name(breakage):
    return f"v-{breakage}"


@pytest.fixture(scope="module")
def verify_setup(local_stack, tmp_path_factory):
    """A rollout over three accounts, done once for the module; purged at the end."""
    directory = tmp_path_factory.mktemp("verify")
    scenario = Scenario(local_stack, directory, "vfy", ACCOUNTS)
    document = scenario.document()
    hosts = document["all"]["children"]["eks_irsa_accounts"]["hosts"]
    third = list(scenario.hosts)[2]
    # The clean role may read (a pod proves one allowed call with it); the others need no permissions.
    hosts[third]["eks_irsa_roles"] = [dict({"name": role_name(b)}, **READS if b == "clean" else {}) for b in BREAKAGES]
    scenario.write(document)
    scenario.third = third
    scenario.roles = scenario.roles + [{"name": role_name(b)} for b in BREAKAGES]
    yield scenario
    scenario.purge()


def run_ansible(local_stack, playbook, inventory, check=False):
    """ansible-playbook as the run_playbook fixture runs it (that fixture is per test; this serves one module-wide rollout)."""
    argv = [f"{ANSIBLE_BIN}/ansible-playbook", playbook, "-i", inventory] + (["--check"] if check else [])
    return PlaybookRun(subprocess.run(argv, env=ansible_env(local_stack), capture_output=True, text=True, timeout=900, check=False))


def scenario_dir(scenario):
    return pathlib.Path(scenario.inventory).parent


def report_of(run):
    results = list(task_results(run, REPORT_TASK).values())
    assert len(results) == 1, results  # run_once
    return results[0]["ansible_facts"]["eks_irsa_verify_report"]


def findings_by_host(run):
    """``{host: findings}``, verify's and the proof's, as the report play collected them from each account.

    (Read from the report, not from each account's task result: under the free strategy the json_report callback
    may file a result under another host's task that started later.)
    """
    return {host: account["findings"] for host, account in report_of(run)["accounts"].items()}


def codes_for(findings, role):
    return [f["code"] for f in findings if f["role_name"] == role]


@pytest.mark.matrix
def test_verify_clean_then_each_field_breakage(local_stack, verify_setup, tmp_path):
    scenario = verify_setup
    rollout = run_ansible(local_stack, ROLLOUT, scenario.inventory)
    assert rollout.rc == 0, failures(rollout)

    # A correct rollout verifies clean, and verifying writes nothing anywhere.
    # A pod started before the annotation (no AWS_ROLE_ARN injected) is only a warning.
    clean_sa = f"{role_name('clean')}-{scenario.third}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runner-old", "namespace": scenario.namespace},
           "spec": {"serviceAccountName": clean_sa, "containers": [{"name": "runner", "image": "busybox"}]}}
    _kubectl_apply(scenario, pod)

    # This run also makes the end-to-end proof: a token of each ServiceAccount from the emulator's TokenRequest API,
    # then AssumeRoleWithWebIdentity with it, which the stack's STS checks as AWS does.
    proof_inventory = _inventory_with(scenario, "proof", eks_irsa_verify_token_proof=True)
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    clean = run_ansible(local_stack, VERIFY, proof_inventory)
    assert clean.rc == 0, (failures(clean), clean.stdout[-3000:])
    assert mutating_aws_requests(local_stack) == []
    proofs = [r for r in local_stack.aws_requests() if r["action"] == "AssumeRoleWithWebIdentity"]
    assert len(proofs) == len(scenario.hosts) - 1 + len(BREAKAGES) and all(r["refused"] is None for r in proofs), proofs
    assert sorted({r["account"] for r in proofs}) == sorted(scenario.hosts.values())  # each in its role's account
    assert kube_writes(local_stack, kube_mark) == []
    found = findings_by_host(clean)
    assert sorted(found) == sorted(scenario.hosts)
    for host, findings in found.items():
        roles = [scenario.runner] if host != scenario.third else [role_name(b) for b in BREAKAGES]
        for role in roles:
            # The clean role's only finding is the pod's: a warning, so no ok row; then the proof's.
            expected = ["pod-restart-needed"] if role == role_name("clean") else ["ok"]
            assert codes_for(findings, role) == expected + ["token-proof-ok"], (host, role, findings)
    # One token per ServiceAccount (the STS accepted its audience), never shown: a JWT starts with "eyJ".
    token_paths = [r["path"] for r in local_stack.kube_requests()[kube_mark:] if r["path"].endswith("/token")]
    assert sorted(path.split("/")[-2] for path in token_paths) == sorted(
        [f"{scenario.runner}-{host}" for host in scenario.hosts if host != scenario.third]
        + [f"{role_name(b)}-{scenario.third}" for b in BREAKAGES])
    assert "eyJ" not in clean.stdout and "eyJ" not in clean.stderr
    report = report_of(clean)
    assert report["errors"] == 0 and report["failed"] == []
    assert report["lines"][0].split() == ["ACCOUNT", "HOST", "ROLE", "SERVICE", "ACCOUNT", "RESULT", "CODE"]
    assert any(line.split()[-2:] == ["OK", "ok"] for line in report["lines"])
    published = clean.report["custom_stats"]["_run"]["eks_irsa_verify"]
    assert published["errors"] == 0 and sorted(published["accounts"]) == sorted(scenario.hosts)
    restart = [f for f in found[scenario.third] if f["code"] == "pod-restart-needed"]
    assert len(restart) == 1 and "runner-old" in restart[0]["message"] and "kubectl" in restart[0]["fix"]
    # After a correct rollout, a new pod of every (account, role, ServiceAccount) gets credentials from the SDK's own chain.
    for host, account in scenario.hosts.items():
        for role in ([scenario.runner] if host != scenario.third else [role_name(b) for b in BREAKAGES]):
            service_account = f"{role}-{host}"
            (seen,) = local_stack.pod(scenario.namespace, service_account, str(tmp_path / f"clean-{service_account}")).sdk(["identity"])
            assert seen.get("arn", "").startswith(f"arn:aws:sts::{account}:assumed-role/{role}/"), (host, role, seen)

    # Break it, the ways users do.
    first, second, third, fourth = scenario.hosts
    first_account, second_account, third_account, fourth_account = (scenario.hosts[h] for h in (first, second, third, fourth))
    host_path = local_stack.issuer.removeprefix("https://").rstrip("/")

    # first account: its OIDC provider is gone.
    scenario.iam(first_account).delete_open_id_connect_provider(OpenIDConnectProviderArn=scenario.provider_arn(first_account))
    # second account: only a provider for another (old) cluster's issuer.
    iam = scenario.iam(second_account)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=scenario.provider_arn(second_account))
    iam.create_open_id_connect_provider(Url=OTHER_ISSUER, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40])
    # fourth account: the cluster's provider, but made by hand with another client ID.
    iam = scenario.iam(fourth_account)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=scenario.provider_arn(fourth_account))
    iam.create_open_id_connect_provider(Url=local_stack.issuer, ClientIDList=["my-own-client"], ThumbprintList=["a" * 40])

    # third account: one trust-policy breakage per role.
    iam = scenario.iam(third_account)

    def rewrite(breakage, change):
        name = role_name(breakage)
        document = scenario.trust_policy(third_account, name)
        text = change(json.dumps(document), document)
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=text if isinstance(text, str) else json.dumps(text))

    rewrite("scheme", lambda text, _d: text.replace(f'"{host_path}:', f'"https://{host_path}:'))
    rewrite("slash", lambda text, _d: text.replace(f'"{host_path}:', f'"{host_path}/:'))
    rewrite("audience", lambda text, _d: text.replace('"sts.amazonaws.com"', '"sts.amazon.com"'))
    rewrite("audlike", lambda _t, d: _move_aud_to_string_like(d, host_path))
    rewrite("namespace", lambda text, _d: text.replace(f"system:serviceaccount:{scenario.namespace}:", "system:serviceaccount:default:"))
    rewrite("sa", lambda text, _d: text.replace(f":{role_name('sa')}-{third}\"", ":someone-else\""))
    rewrite("principal", lambda text, _d: text.replace(f"arn:aws:iam::{third_account}:oidc-provider/", f"arn:aws:iam::{first_account}:oidc-provider/"))
    rewrite("big", lambda _t, d: _padded(d, host_path, scenario.namespace, 2100))
    rewrite("wildcard", lambda _t, d: _wildcard_subject(d, host_path, f"system:serviceaccount:{scenario.namespace}:other-*"))
    assert len(json.dumps(scenario.trust_policy(third_account, role_name("big")), separators=(",", ":"))) > 2048, \
        "moto refused or trimmed the large trust policy"
    delete_role(iam, role_name("deleted"))
    other_role_arn = f"arn:aws:iam::{first_account}:role/{role_name('annot-other')}"
    scenario.kubectl("annotate", "--overwrite", "-n", scenario.namespace, "serviceaccount",
                     f"{role_name('annot-other')}-{third}", f"{ROLE_ARN_ANNOTATION}={other_role_arn}")
    scenario.kubectl("annotate", "-n", scenario.namespace, "serviceaccount", f"{role_name('annot-missing')}-{third}",
                     f"{ROLE_ARN_ANNOTATION}-")

    # Verify with the proof again, one attempt each (nothing here is waiting for IAM to catch up).
    broken_inventory = _inventory_with(scenario, "broken", eks_irsa_verify_token_proof=True, eks_irsa_verify_proof_attempts=1,
                                       eks_irsa_verify_proof_delay=0)
    local_stack.reset_aws_requests()
    broken = run_ansible(local_stack, VERIFY, broken_inventory, check=True)
    assert broken.rc != 0
    assert mutating_aws_requests(local_stack) == []
    found = findings_by_host(broken)
    expected = {
        (first, scenario.runner): "provider-missing",
        (second, scenario.runner): "provider-other-issuer",
        (fourth, scenario.runner): "provider-audience-missing",
        (third, role_name("scheme")): "trust-condition-key-scheme",
        (third, role_name("slash")): "trust-condition-key-trailing-slash",
        (third, role_name("audience")): "trust-audience-mismatch",
        (third, role_name("audlike")): "trust-audience-not-exact",
        (third, role_name("namespace")): "trust-subject-other-namespace",
        (third, role_name("sa")): "trust-subject-other-service-account",
        (third, role_name("principal")): "trust-principal-other-account",
        (third, role_name("big")): "trust-policy-too-large",
        (third, role_name("wildcard")): "trust-subject-other-service-account",
        (third, role_name("deleted")): "role-missing",
        (third, role_name("annot-other")): "annotation-other-account",
        (third, role_name("annot-missing")): "annotation-missing",
        (third, role_name("clean")): "pod-restart-needed",
    }
    predicted = {}
    for (host, role), code in expected.items():
        (finding,) = [f for f in found[host] if f["role_name"] == role and not f["code"].startswith("token-proof-")]
        assert finding["code"] == code, (host, role, found[host])
        assert finding["account_id"] == scenario.hosts[host]
        assert finding["message"] and finding["fix"], finding
        named = role in finding["message"] or finding["account_id"] in finding["message"] or finding["service_account"] in finding["message"]
        assert named, finding
        predicted[host, role] = finding

    # The proof's real AssumeRoleWithWebIdentity is refused with exactly the error verify said the pod would see. (It
    # proves the role the inventory names, so it cannot see what an annotation pointing elsewhere does: the pods below do.)
    for (host, role), finding in predicted.items():
        (proof,) = [f for f in found[host] if f["role_name"] == role and f["code"].startswith("token-proof-")]
        sees = _error_code(finding["pod_error"])
        if sees in ("InvalidIdentityToken", "AccessDenied") and not finding["code"].startswith("annotation-"):
            assert (proof["code"], proof["pod_error"]) == ("token-proof-failed", sees), (finding, proof)
        else:
            assert proof["code"] == "token-proof-ok", (finding, proof)
    assert "eyJ" not in broken.stdout and "eyJ" not in broken.stderr

    # A new pod of each ServiceAccount, its credentials from the AWS SDK's own chain, sees what verify said.
    for (host, role), finding in predicted.items():
        service_account = finding["service_account"]
        pod = local_stack.pod(scenario.namespace, service_account, str(tmp_path / f"pod-{service_account}"))
        (seen,) = pod.sdk(["identity"])
        sees = _error_code(finding["pod_error"])
        if finding["code"] == "annotation-missing":
            assert pod.role_arn is None and seen["error"] == "NoCredentialsError", seen
        elif finding["code"] == "annotation-other-account":  # which error depends on the other account, as verify says
            assert seen.get("error") in _error_codes(finding["pod_error"]) and seen.get("operation") == "AssumeRoleWithWebIdentity", seen
        elif sees in ("InvalidIdentityToken", "AccessDenied"):
            assert (seen.get("error"), seen.get("operation")) == (sees, "AssumeRoleWithWebIdentity"), (finding, seen)
        else:  # a warning, or a limit only IAM's writes enforce: the pod gets credentials
            assert seen.get("arn", "").startswith(f"arn:aws:sts::{scenario.hosts[host]}:assumed-role/{role}/"), (finding, seen)
    # The aws CLI in a pod agrees; and once a token has outlived its lifetime (the webhook's day), STS says so. (The CLI
    # caches the session it got, as it does in a pod, so the expiry is seen by the SDK, which asks again.)
    clean_pod = local_stack.pod(scenario.namespace, clean_sa, str(tmp_path / "pod-cli"))
    assert clean_pod.cli("sts", "get-caller-identity")["output"]["Account"] == third_account
    # and one call its role's policy (ReadOnlyAccess) allows, in its account (moto checks no permissions: this proves where
    # the credentials act)
    role = clean_pod.cli("iam", "get-role", "--role-name", role_name("clean"))["output"]["Role"]
    assert role["Arn"] == f"arn:aws:iam::{third_account}:role/{role_name('clean')}"
    local_stack.configure_sts(clock_offset=86400 + 60)
    try:
        assert [r.get("error") for r in clean_pod.sdk(["identity"])] == ["ExpiredTokenException"]
    finally:
        local_stack.configure_sts(clock_offset=0)

    report = report_of(broken)
    assert sorted(report["failed"]) == sorted(scenario.hosts)
    # 14 configuration errors, and the proof refused for the 11 of them that concern the provider or the trust.
    assert report["errors"] == 14 + 11, report["errors"]
    text = "\n".join(report["lines"])
    assert "provider-missing" in text and "fix: " in text and "pod sees: InvalidIdentityToken" in text
    assert [task for _play, task, _host, _msg in failures(broken)] == ["Fail the run when a pod cannot get credentials"]


def _inventory_with(scenario, name, **group_vars):
    """A copy of the scenario's inventory with more group variables."""
    document = yaml.safe_load(pathlib.Path(scenario.inventory).read_text(encoding="utf-8"))
    document["all"]["children"]["eks_irsa_accounts"]["vars"].update(group_vars)
    path = scenario_dir(scenario) / f"inventory-{name}.yml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def _error_code(pod_error):
    """The STS error code at the start of verify's "pod sees" text ("AccessDenied, or another role's permissions")."""
    return re.split(r"[ ,:]", pod_error or "", maxsplit=1)[0] or None


def _error_codes(pod_error):
    """Every STS error code verify's "pod sees" text names."""
    return set(re.findall(r"\b(AccessDenied|InvalidIdentityToken|ExpiredTokenException|IDPRejectedClaim)\b", pod_error or ""))


def _wildcard_subject(document, host_path, pattern):
    condition = document["Statement"][0]["Condition"]
    condition.setdefault("StringLike", {})[f"{host_path}:sub"] = pattern
    condition["StringEquals"].pop(f"{host_path}:sub")
    return document


def _kubectl_apply(scenario, obj):
    process = subprocess.run([KUBECTL, "--kubeconfig", scenario.stack.kubeconfig, "apply", "-f", "-"], input=json.dumps(obj),
                             capture_output=True, text=True, timeout=60, check=False)
    assert process.returncode == 0, process.stderr


def _move_aud_to_string_like(document, host_path):
    statement = document["Statement"][0]
    aud_key = f"{host_path}:aud"
    statement["Condition"].setdefault("StringLike", {})[aud_key] = statement["Condition"]["StringEquals"].pop(aud_key)
    return document


def _padded(document, host_path, namespace, size):
    """The role's policy with more subjects (other ServiceAccounts) until it is over ``size`` characters."""
    condition = document["Statement"][0]["Condition"]["StringEquals"]
    subjects = [condition[f"{host_path}:sub"]] if isinstance(condition[f"{host_path}:sub"], str) else condition[f"{host_path}:sub"]
    index = 0
    while len(json.dumps(document, separators=(",", ":"))) <= size:
        subjects.append(f"system:serviceaccount:{namespace}:padding-service-account-{index:03d}")
        condition[f"{host_path}:sub"] = subjects
        index += 1
    return document


def test_a_fresh_account_a_missing_namespace_and_a_stale_issuer(local_stack, tmp_path):
    """Nothing rolled out, the namespace does not exist, and eks_irsa_issuer names another cluster's issuer."""
    scenario = Scenario(local_stack, tmp_path, "vfy-fresh", ("666666666611",), eks_irsa_issuer=OTHER_ISSUER)
    try:
        local_stack.reset_aws_requests()
        run = run_ansible(local_stack, VERIFY, scenario.inventory)
        assert run.rc != 0
        assert mutating_aws_requests(local_stack) == []
        (findings,) = findings_by_host(run).values()
        assert [f["code"] for f in findings] == ["issuer-not-cluster", "provider-missing", "role-missing", "service-account-missing"]
        by_code = {f["code"]: f for f in findings}
        assert local_stack.issuer.rstrip("/") in by_code["issuer-not-cluster"]["message"]
        assert OTHER_ISSUER.removeprefix("https://") in by_code["provider-missing"]["message"]  # the issuer verified is the inventory's
        assert f"{scenario.namespace}/{scenario.service_account('vfy-fresh-0')}" in by_code["service-account-missing"]["message"]
        assert all(f["message"] and f["fix"] for f in findings)
    finally:
        scenario.purge()
