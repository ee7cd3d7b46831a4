# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The verify playbook, as users run it: ``ansible-playbook torque.eks_irsa.verify -i inventory.yml``.

One rollout (three target accounts, many roles in the third) must verify clean, reading only. Then each setup
users break in the field is built on the stack, with boto3 in the account (as that account) or with kubectl,
one breakage per account or role so that they do not mask each other, and one verify run (in check mode, which
must not matter for a read-only playbook) must fail and name the right code for each account and role.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import urllib.parse

import pytest
import yaml

from tests.conftest import ANSIBLE_BIN, PlaybookRun, ansible_env
from tests.integration.reliability import KUBECTL, ROLE_ARN_ANNOTATION, Scenario, failures, kube_writes, mutating_aws_requests
from tests.integration.reliability import InterceptingEndpoint, task_results

pytestmark = pytest.mark.integration

VERIFY = "torque.eks_irsa.verify"
ROLLOUT = "torque.eks_irsa.rollout"
REPORT_TASK = "Collect the findings of every account"
ACCOUNTS = ("666666666601", "666666666602", "666666666603")
OTHER_ISSUER = "https://oidc.eks.us-west-2.amazonaws.com/id/0LDC1U5TER00000000000000000000AA"
# The third account's roles, each broken in one way (the clean one stays clean), keyed by what breaks them.
BREAKAGES = ("clean", "scheme", "slash", "audience", "audlike", "namespace", "sa", "principal", "big", "annot-other",
             "annot-missing")


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
    hosts[third]["eks_irsa_roles"] = [{"name": role_name(b)} for b in BREAKAGES]
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
def test_verify_clean_then_each_field_breakage(local_stack, verify_setup):
    scenario = verify_setup
    rollout = run_ansible(local_stack, ROLLOUT, scenario.inventory)
    assert rollout.rc == 0, failures(rollout)

    # A correct rollout verifies clean, and verifying writes nothing anywhere.
    # A pod started before the annotation (no AWS_ROLE_ARN injected) is only a warning.
    clean_sa = f"{role_name('clean')}-{scenario.third}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runner-old", "namespace": scenario.namespace},
           "spec": {"serviceAccountName": clean_sa, "containers": [{"name": "runner", "image": "busybox"}]}}
    _kubectl_apply(scenario, pod)

    # This run also makes the optional end-to-end proof, through an endpoint that adds the TokenRequest API the
    # emulator lacks (moto then accepts any token: this proves the wiring, a real cluster proves the rest).
    endpoint = TokenAndStsEndpoint(local_stack.aws_url, local_stack.kube_url)
    endpoint.known = None
    document = yaml.safe_load(pathlib.Path(scenario.inventory).read_text(encoding="utf-8"))
    document["all"]["children"]["eks_irsa_accounts"]["vars"].update(
        eks_irsa_verify_token_proof=True, eks_irsa_kubeconfig=endpoint.kubeconfig(scenario_dir(scenario) / "proof-kubeconfig"))
    proof_inventory = scenario_dir(scenario) / "inventory-proof.yml"
    proof_inventory.write_text(yaml.safe_dump(document))
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    try:
        clean = run_ansible(local_stack, VERIFY, str(proof_inventory))
    finally:
        endpoint.stop()
    assert clean.rc == 0, (failures(clean), clean.stdout[-3000:])
    # The proof's AssumeRoleWithWebIdentity calls are unsigned (the token authorises them), so the proxy cannot tell
    # their service from a credential scope and counts them as writes; they write nothing.
    assert [r for r in mutating_aws_requests(local_stack) if r["action"] != "AssumeRoleWithWebIdentity"] == []
    assert len([r for r in local_stack.aws_requests() if r["action"] == "AssumeRoleWithWebIdentity"]) == 2 + len(BREAKAGES)
    assert kube_writes(local_stack, kube_mark) == []
    found = findings_by_host(clean)
    assert sorted(found) == sorted(scenario.hosts)
    for host, findings in found.items():
        roles = [scenario.runner] if host != scenario.third else [role_name(b) for b in BREAKAGES]
        for role in roles:
            # The clean role's only finding is the pod's: a warning, so no ok row; then the proof's.
            expected = ["pod-restart-needed"] if role == role_name("clean") else ["ok"]
            assert codes_for(findings, role) == expected + ["token-proof-ok"], (host, role, findings)
    # One token per ServiceAccount, for the audience, never shown.
    assert sorted(sa for _ns, sa, _spec in endpoint.token_requests) == sorted(
        [f"{scenario.runner}-{host}" for host in scenario.hosts if host != scenario.third]
        + [f"{role_name(b)}-{scenario.third}" for b in BREAKAGES])
    assert {tuple(spec.get("audiences")) for _ns, _sa, spec in endpoint.token_requests} == {("sts.amazonaws.com",)}
    assert SECRET_TOKEN not in clean.stdout and SECRET_TOKEN not in clean.stderr
    report = report_of(clean)
    assert report["errors"] == 0 and report["failed"] == []
    assert report["lines"][0].split() == ["ACCOUNT", "HOST", "ROLE", "SERVICE", "ACCOUNT", "RESULT", "CODE"]
    assert any(line.split()[-2:] == ["OK", "ok"] for line in report["lines"])
    published = clean.report["custom_stats"]["_run"]["eks_irsa_verify"]
    assert published["errors"] == 0 and sorted(published["accounts"]) == sorted(scenario.hosts)
    restart = [f for f in found[scenario.third] if f["code"] == "pod-restart-needed"]
    assert len(restart) == 1 and "runner-old" in restart[0]["message"] and "kubectl" in restart[0]["fix"]

    # Break it, the ways users do.
    first, second, third = scenario.hosts
    first_account, second_account, third_account = (scenario.hosts[h] for h in (first, second, third))
    host_path = local_stack.issuer.removeprefix("https://").rstrip("/")

    # first account: its OIDC provider is gone.
    scenario.iam(first_account).delete_open_id_connect_provider(OpenIDConnectProviderArn=scenario.provider_arn(first_account))
    # second account: only a provider for another (old) cluster's issuer.
    iam = scenario.iam(second_account)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=scenario.provider_arn(second_account))
    iam.create_open_id_connect_provider(Url=OTHER_ISSUER, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40])

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
    assert len(json.dumps(scenario.trust_policy(third_account, role_name("big")), separators=(",", ":"))) > 2048, \
        "moto refused or trimmed the large trust policy"
    other_role_arn = f"arn:aws:iam::{first_account}:role/{role_name('annot-other')}"
    scenario.kubectl("annotate", "--overwrite", "-n", scenario.namespace, "serviceaccount",
                     f"{role_name('annot-other')}-{third}", f"{ROLE_ARN_ANNOTATION}={other_role_arn}")
    scenario.kubectl("annotate", "-n", scenario.namespace, "serviceaccount", f"{role_name('annot-missing')}-{third}",
                     f"{ROLE_ARN_ANNOTATION}-")

    local_stack.reset_aws_requests()
    broken = run_ansible(local_stack, VERIFY, scenario.inventory, check=True)
    assert broken.rc != 0
    assert mutating_aws_requests(local_stack) == []
    found = findings_by_host(broken)
    expected = {
        (first, scenario.runner): "provider-missing",
        (second, scenario.runner): "provider-other-issuer",
        (third, role_name("scheme")): "trust-condition-key-scheme",
        (third, role_name("slash")): "trust-condition-key-trailing-slash",
        (third, role_name("audience")): "trust-audience-mismatch",
        (third, role_name("audlike")): "trust-audience-not-exact",
        (third, role_name("namespace")): "trust-subject-other-namespace",
        (third, role_name("sa")): "trust-subject-other-service-account",
        (third, role_name("principal")): "trust-principal-other-account",
        (third, role_name("big")): "trust-policy-too-large",
        (third, role_name("annot-other")): "annotation-other-account",
        (third, role_name("annot-missing")): "annotation-missing",
    }
    for (host, role), code in expected.items():
        assert codes_for(found[host], role) == [code], (host, role, found[host])
        (finding,) = [f for f in found[host] if f["role_name"] == role]
        assert finding["account_id"] == scenario.hosts[host]
        assert finding["message"] and finding["fix"], finding
        named = role in finding["message"] or finding["account_id"] in finding["message"] or finding["service_account"] in finding["message"]
        assert named, finding
    assert codes_for(found[third], role_name("clean")) == ["pod-restart-needed"]

    report = report_of(broken)
    assert sorted(report["failed"]) == sorted(scenario.hosts) and report["errors"] == 11
    text = "\n".join(report["lines"])
    assert "provider-missing" in text and "fix: " in text and "pod sees: InvalidIdentityToken" in text
    assert [task for _play, task, _host, _msg in failures(broken)] == ["Fail the run when a pod cannot get credentials"]


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


# -- the end-to-end proof: a real token request and a real AssumeRoleWithWebIdentity ------------------------------

SECRET_TOKEN = "eyJhbGciOiJSUzI1NiJ9.proof-token-that-must-never-be-printed.c2lnbmF0dXJl"


class TokenAndStsEndpoint(InterceptingEndpoint):
    """Kubernetes' TokenRequest API (the emulator has no token subresource) and STS, in front of the stack.

    ``POST /api/v1/namespaces/<ns>/serviceaccounts/<sa>/token`` answers a token for the ServiceAccounts in ``known``
    (recording the audiences asked for, and in ``token_headers`` the request's authentication and impersonation headers),
    or for any ServiceAccount when ``known`` is None, and 404 otherwise; other Kubernetes requests (kubernetes.core's
    client reads the version and API groups first) go to the emulator. AWS requests go to the stack, except that ``AssumeRoleWithWebIdentity``
    for a role in ``denied`` gets STS's AccessDenied (moto accepts any token).
    """

    KUBE_PREFIXES = ("/api/", "/api?", "/apis", "/version", "/openapi")

    def __init__(self, upstream, kube_upstream=None):
        self.kube_upstream = urllib.parse.urlsplit(kube_upstream) if kube_upstream else None
        self.known, self.denied, self.token_requests, self.token_headers, self.sts_calls = set(), set(), [], [], []
        super().__init__(upstream)

    def kubeconfig(self, path):
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "proof",
            "clusters": [{"name": "proof", "cluster": {"server": self.url}}],
            "users": [{"name": "proof", "user": {"token": "dummy"}}],
            "contexts": [{"name": "proof", "context": {"cluster": "proof", "user": "proof"}}]}))
        return str(path)

    def answer(self, method, path, headers, body):
        match = re.match(r"^/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token$", urllib.parse.urlsplit(path).path)
        if match:
            request = json.loads(body or b"{}")
            self.token_requests.append((match.group(1), match.group(2), request.get("spec", {})))
            self.token_headers.append({name.lower(): value for name, value in headers.items()
                                       if name.lower() in ("authorization", "impersonate-user", "impersonate-group")})
            if self.known is not None and match.group(2) not in self.known:
                status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                          "message": f'serviceaccounts "{match.group(2)}" not found'}
                return 404, [("Content-Type", "application/json")], json.dumps(status).encode()
            answer = dict(request, status={"token": SECRET_TOKEN, "expirationTimestamp": "2030-01-01T00:00:00Z"})
            return 201, [("Content-Type", "application/json")], json.dumps(answer).encode()
        upstream = self.upstream
        if self.kube_upstream and (path == "/api" or path.startswith(self.KUBE_PREFIXES)):
            upstream = self.kube_upstream
        query = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if query.get("Action") == ["AssumeRoleWithWebIdentity"]:
            self.sts_calls.append((query["RoleArn"][0], query["WebIdentityToken"][0]))
            if query["RoleArn"][0] in self.denied:
                payload = ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                           "<Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message>"
                           "</Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>").encode()
                return 403, [("Content-Type", "text/xml")], payload
        return self.forward(method, path, headers, body, upstream)


def test_token_proof_requests_a_token_with_the_audience_assumes_each_role_and_never_shows_the_token(
        local_stack, run_playbook, tmp_path):
    endpoint = TokenAndStsEndpoint(local_stack.aws_url, local_stack.kube_url)
    try:
        endpoint.known.add("runner-dev")
        good, denied = "arn:aws:iam::222222222222:role/torque-runner", "arn:aws:iam::333333333333:role/torque-runner"
        endpoint.denied.add(denied)
        kubeconfig = endpoint.kubeconfig(tmp_path / "kubeconfig")
        run = run_playbook([{"name": "Prove", "hosts": "localhost", "gather_facts": False, "tasks": [{
            "name": "Prove the tokens", "register": "proof",
            "torque.eks_irsa.irsa_token_proof": {
                "namespace": "envs", "kubeconfig": kubeconfig, "attempts": 2, "delay": 0, "endpoint_url": endpoint.url,
                "checks": [{"service_account": "runner-dev", "role_arn": good}, {"service_account": "runner-dev", "role_arn": denied},
                           {"service_account": "missing", "role_arn": good}]}}]}], check=True)
    finally:
        endpoint.stop()
    result = run.result("Prove the tokens")
    assert run.rc == 0, result.get("msg") or run
    assert [(f["code"], f["role_arn"], f["pod_error"]) for f in result["findings"]] == [
        ("token-proof-ok", good, None), ("token-proof-failed", denied, "AccessDenied"), ("token-proof-failed", good, "TokenRequestFailed")]
    assert result["error_count"] == 2 and result["changed"] is False
    assert "after 2 attempt(s)" in result["findings"][1]["message"] and "trust policy" in result["findings"][1]["fix"]
    assert "missing" in result["findings"][2]["message"] and "serviceaccounts/token" in result["findings"][2]["fix"]
    # One token per ServiceAccount, for the audience; both roles tried with it, the refused one twice (bounded).
    assert [(ns, sa, spec.get("audiences")) for ns, sa, spec in endpoint.token_requests] == [
        ("envs", "runner-dev", ["sts.amazonaws.com"]), ("envs", "missing", ["sts.amazonaws.com"])]
    assert endpoint.sts_calls == [(good, SECRET_TOKEN), (denied, SECRET_TOKEN), (denied, SECRET_TOKEN)]
    assert SECRET_TOKEN not in run.stdout and SECRET_TOKEN not in run.stderr


@pytest.mark.matrix
def test_token_proof_takes_kubernetes_core_connection_options_host_api_key_and_impersonation(local_stack, run_playbook):
    """The API server and its credentials as module options, as a kubernetes.core task takes them (the module read only a
    kubeconfig and context, or K8S_AUTH_HOST and K8S_AUTH_API_KEY, before). K8S_AUTH_KUBECONFIG still names the
    stack's kubeconfig, which kubernetes.core leaves unread when the options authenticate; the API key is never shown."""
    api_key = "option-api-key-that-must-never-be-printed"
    endpoint = TokenAndStsEndpoint(local_stack.aws_url, local_stack.kube_url)
    role = "arn:aws:iam::222222222222:role/torque-runner"
    kube_mark = len(local_stack.kube_requests())
    try:
        endpoint.known.add("runner-dev")
        run = run_playbook([{"name": "Prove", "hosts": "localhost", "gather_facts": False, "tasks": [{
            "name": "Prove the token with the API server as options", "register": "proof",
            "torque.eks_irsa.irsa_token_proof": {
                "namespace": "envs", "host": endpoint.url, "api_key": api_key, "verify_ssl": False,
                "impersonate_user": "system:serviceaccount:envs:prover", "impersonate_groups": ["provers"],
                "attempts": 1, "delay": 0, "endpoint_url": endpoint.url,
                "checks": [{"service_account": "runner-dev", "role_arn": role}]}}]}], args=["-vvv"])
    finally:
        endpoint.stop()
    result = run.result("Prove the token with the API server as options")
    assert run.rc == 0, result.get("msg") or run
    assert [(f["code"], f["role_arn"]) for f in result["findings"]] == [("token-proof-ok", role)]
    assert endpoint.token_requests == [("envs", "runner-dev", {"audiences": ["sts.amazonaws.com"], "expirationSeconds": 600})]
    assert endpoint.token_headers == [{"authorization": f"Bearer {api_key}", "impersonate-user": "system:serviceaccount:envs:prover",
                                       "impersonate-group": "provers"}]
    # The emulator answered kubernetes.core's first requests, made with the option's API key.
    assert [(r["method"], r["path"], r["token"]) for r in local_stack.kube_requests()[kube_mark:]] == [
        ("GET", "/version", api_key), ("GET", "/apis", api_key)]
    assert endpoint.sts_calls == [(role, SECRET_TOKEN)]
    for secret in (api_key, SECRET_TOKEN):
        assert secret not in run.stdout and secret not in run.stderr


class RefusingKubernetesEndpoint(TokenAndStsEndpoint):
    """:class:`TokenAndStsEndpoint` whose Kubernetes API refuses every request with 401 (expired credentials)."""

    def answer(self, method, path, headers, body):
        if path == "/api" or path.startswith(self.KUBE_PREFIXES):
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Unauthorized", "code": 401,
                      "message": "Unauthorized"}
            return 401, [("Content-Type", "application/json")], json.dumps(status).encode()
        return super().answer(method, path, headers, body)


def test_token_proof_an_api_that_refuses_the_credentials_is_each_checks_failed_token_request(local_stack, run_playbook, tmp_path):
    """kubernetes.core's client reads the API's version first: its 401 is the finding a refused token request gives."""
    endpoint = RefusingKubernetesEndpoint(local_stack.aws_url, local_stack.kube_url)
    role = "arn:aws:iam::222222222222:role/torque-runner"
    try:
        run = run_playbook([{"name": "Prove", "hosts": "localhost", "gather_facts": False, "tasks": [{
            "name": "Prove with refused credentials", "register": "proof",
            "torque.eks_irsa.irsa_token_proof": {
                "namespace": "envs", "kubeconfig": endpoint.kubeconfig(tmp_path / "kubeconfig"), "kube_context": "proof",
                "attempts": 1, "delay": 0, "endpoint_url": endpoint.url,
                "checks": [{"service_account": "runner-dev", "role_arn": role}, {"service_account": "runner-prod", "role_arn": role}]}}]}])
    finally:
        endpoint.stop()
    result = run.result("Prove with refused credentials")
    assert run.rc == 0, result.get("msg") or run
    assert [(f["code"], f["service_account"], f["pod_error"]) for f in result["findings"]] == [
        ("token-proof-failed", "runner-dev", "TokenRequestFailed"), ("token-proof-failed", "runner-prod", "TokenRequestFailed")]
    assert all("401 Unauthorized" in f["message"] for f in result["findings"]) and result["error_count"] == 2
    assert endpoint.token_requests == [] and endpoint.sts_calls == []
