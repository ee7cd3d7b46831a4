# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EKS Pod Identity through the recording proxy, as the Pod Identity Agent uses it: the association, then
``eks-auth:AssumeRoleForPodIdentity`` with a pod's token, the Pod Identity role's trust and the target role's checked by
the stack's STS, and credentials from moto that act in the target account.

moto runs as ``moto_server``; the proxy and a Kubernetes emulator (the cluster's tokens, signed for the issuer moto gave
the cluster) run in this process; every call goes through boto3.
"""

from __future__ import annotations

import json
import urllib.request

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from tests.stack.aws_proxy import RecordingProxy
from tests.stack.kube_emulator import KubeEmulator
from tests.stack.pod import Pod
from tests.stack.pod_identity_agent import PodIdentityAgent

REGION, CLUSTER = "eu-west-1", "pods"
CLUSTER_ACCOUNT, TARGET_ACCOUNT = "123456789012", "444455556666"
POD_ROLE = f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/pod-identity-runner"
TARGET_ROLE = f"arn:aws:iam::{TARGET_ACCOUNT}:role/deployer"
CLUSTER_ARN = f"arn:aws:eks:{REGION}:{CLUSTER_ACCOUNT}:cluster/{CLUSTER}"
NO_RETRIES = Config(retries={"total_max_attempts": 1})


def client(url, service, account=None, credentials=None):
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    if credentials:
        keys = {"aws_access_key_id": credentials["accessKeyId"], "aws_secret_access_key": credentials["secretAccessKey"],
                "aws_session_token": credentials["sessionToken"]}
    made = boto3.client(service, endpoint_url=url, region_name=REGION, config=NO_RETRIES, **keys)
    if account:
        made.meta.events.register(f"before-sign.{service}.*", lambda request, **_kw: request.headers.__setitem__("x-moto-account-id", account))
    return made


@pytest.fixture(scope="module")
def chain(moto_url):
    proxy = RecordingProxy(moto_url).start()
    issuer = client(proxy.url, "eks").create_cluster(
        name=CLUSTER, roleArn=f"arn:aws:iam::{CLUSTER_ACCOUNT}:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]})["cluster"]["identity"]["oidc"]["issuer"]
    emulator = KubeEmulator(issuer=issuer).start()
    proxy.sts.configure({"issuers": {issuer: emulator.url}})
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"aws:SourceAccount": CLUSTER_ACCOUNT, "aws:RequestTag/kubernetes-namespace": "runners"},
                      "ArnEquals": {"aws:SourceArn": CLUSTER_ARN}}}]}
    iam = client(proxy.url, "iam")
    iam.create_role(RoleName="pod-identity-runner", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="pod-identity-runner", PolicyName="chain", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": TARGET_ROLE}]}))
    for namespace in ("runners", "others"):
        kube_post(emulator, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        kube_post(emulator, f"/api/v1/namespaces/{namespace}/serviceaccounts",
                  {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "runner"}})
    yield proxy, emulator
    emulator.stop()
    proxy.stop()


def kube_post(emulator, path, body):
    request = urllib.request.Request(emulator.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def token(emulator, namespace):
    """A token of ``namespace/runner`` for the Pod Identity Agent's audience, from the cluster's TokenRequest API."""
    spec = {"spec": {"audiences": ["pods.eks.amazonaws.com"], "expirationSeconds": 3600}}
    return kube_post(emulator, f"/api/v1/namespaces/{namespace}/serviceaccounts/runner/token", spec)["status"]["token"]


def agent(proxy, emulator, namespace):
    """What the Pod Identity Agent gets for a pod of ``namespace/runner``: the answer, or the error code."""
    try:
        return client(proxy.url, "eks-auth").assume_role_for_pod_identity(clusterName=CLUSTER, token=token(emulator, namespace))
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]


@pytest.fixture(scope="module")
def pod_agent(chain):
    """The cluster's Pod Identity Agent, asking the proxy's eks-auth."""
    started = PodIdentityAgent(chain[0].url, REGION, CLUSTER)
    yield started
    started.stop()


def pod(chain, pod_agent, tmp_path, namespace, name):
    """A started pod of ``namespace/runner`` (``name`` its working directory)."""
    proxy, emulator = chain
    return Pod(emulator.url, proxy.url, REGION, namespace, "runner", str(tmp_path / name), agent=pod_agent).start()


def test_the_pod_identity_role_then_the_target_role_only_as_their_trusts_allow(chain, pod_agent, tmp_path):
    proxy, emulator = chain
    eks = client(proxy.url, "eks")
    for namespace in ("runners", "others"):
        eks.create_pod_identity_association(clusterName=CLUSTER, namespace=namespace, serviceAccount="runner", roleArn=POD_ROLE)
    # The Pod Identity role alone: its trust pins the cluster and the namespace tag EKS sends.
    answer = agent(proxy, emulator, "runners")
    assert answer["assumedRoleUser"]["arn"].startswith(f"arn:aws:sts::{CLUSTER_ACCOUNT}:assumed-role/pod-identity-runner/eks-{CLUSTER}-")
    identity = client(proxy.url, "sts", credentials=answer["credentials"]).get_caller_identity()
    assert identity["Account"] == CLUSTER_ACCOUNT
    assert agent(proxy, emulator, "others") == "AccessDeniedException"  # the namespace tag does not match
    # A pod, on the SDK's own chain: the webhook's variables lead its container credential provider to the agent.
    (seen,) = pod(chain, pod_agent, tmp_path, "runners", "first").sdk(["identity"])
    assert seen["arn"].startswith(f"arn:aws:sts::{CLUSTER_ACCOUNT}:assumed-role/pod-identity-runner/"), seen
    (refused,) = pod(chain, pod_agent, tmp_path, "others", "other").sdk(["identity"])
    # botocore's container provider reports the agent's refusal, which carries eks-auth's.
    assert refused["error"] == "CredentialRetrievalError" and "AccessDeniedException" in refused["message"], refused

    # A target role in another account, trusting the Pod Identity role with the association's external ID.
    (association,) = eks.list_pod_identity_associations(clusterName=CLUSTER, namespace="runners")["associations"]
    updated = eks.update_pod_identity_association(clusterName=CLUSTER, associationId=association["associationId"],
                                                  targetRoleArn=TARGET_ROLE)["association"]
    target_trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": POD_ROLE}, "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"sts:ExternalId": updated["externalId"]}}}]}
    client(proxy.url, "iam", TARGET_ACCOUNT).create_role(RoleName="deployer", AssumeRolePolicyDocument=json.dumps(target_trust))
    answer = agent(proxy, emulator, "runners")
    assert answer["assumedRoleUser"]["arn"].startswith(f"arn:aws:sts::{TARGET_ACCOUNT}:assumed-role/deployer/")
    assert client(proxy.url, "sts", credentials=answer["credentials"]).get_caller_identity()["Account"] == TARGET_ACCOUNT
    (seen,) = pod(chain, pod_agent, tmp_path, "runners", "target").sdk(["identity"])
    assert seen["arn"].startswith(f"arn:aws:sts::{TARGET_ACCOUNT}:assumed-role/deployer/"), seen
    # With the IRSA annotation as well, the SDK takes web identity first (its chain's order) and never asks the agent:
    # here the account has no OIDC provider, so the pod gets IRSA's error, not the association's credentials.
    request = urllib.request.Request(emulator.url + "/api/v1/namespaces/runners/serviceaccounts/runner", method="PATCH",
                                     data=json.dumps({"metadata": {"annotations": {"eks.amazonaws.com/role-arn": POD_ROLE}}}).encode(),
                                     headers={"Content-Type": "application/merge-patch+json"})
    urllib.request.urlopen(request, timeout=10).close()
    both = pod(chain, pod_agent, tmp_path, "runners", "both")
    assert both.role_arn == POD_ROLE and both.pod_identity
    (seen,) = both.sdk(["identity"])
    assert (seen["error"], seen["operation"]) == ("InvalidIdentityToken", "AssumeRoleWithWebIdentity"), seen
    # The target's trust wanting another external ID: refused.
    target_trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] = "someone-elses"
    client(proxy.url, "iam", TARGET_ACCOUNT).update_assume_role_policy(RoleName="deployer", PolicyDocument=json.dumps(target_trust))
    assert agent(proxy, emulator, "runners") == "AccessDeniedException"
    # The proxy counts none of eks-auth's calls as writes.
    assert not [r for r in proxy.requests() if r["service"] == "eks-auth" and r["mutating"]]
    assert [r["action"] for r in proxy.requests() if r["service"] == "eks-auth"][:1] == [f"POST /clusters/{CLUSTER}/assume-role-for-pod-identity"]
