# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local stack's second cluster: its own issuer in moto and its own Kubernetes API, independent of the first."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request

from tests.conftest import TOOLS_BIN

KUBECTL = os.path.join(TOOLS_BIN, "kubectl")


def kubectl(kubeconfig, *args, stdin=None):
    process = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True, text=True, timeout=120,
                             check=False)
    assert process.returncode == 0, process.stderr
    return process.stdout


def objects(kube_url):
    with urllib.request.urlopen(kube_url + "/_emulator/objects", timeout=10) as response:
        return json.load(response)


def test_a_second_cluster_has_its_own_issuer_and_its_own_kubernetes_api(local_stack):
    green = local_stack.add_cluster("stack-test-green", "us-west-2")

    assert green["issuer"].startswith("https://oidc.eks.us-west-2.amazonaws.com/id/") and green["issuer"] != local_stack.issuer
    described = local_stack.client("eks", "us-west-2").describe_cluster(name="stack-test-green")["cluster"]
    assert described["identity"]["oidc"]["issuer"] == green["issuer"]

    # kubectl sends typed objects as protobuf; a manifest goes as JSON, which the emulator reads.
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "only-in-green"}}
    kubectl(green["kubeconfig"], "create", "--validate=false", "-f", "-", stdin=json.dumps(namespace))
    assert [o for o in objects(green["kube_url"]) if o["kind"] == "Namespace" and o["metadata"]["name"] == "only-in-green"]
    assert not [o for o in local_stack.kube_objects() if o["kind"] == "Namespace" and o["metadata"]["name"] == "only-in-green"]
    assert "only-in-green" not in kubectl(local_stack.kubeconfig, "get", "namespaces", "-o", "name")
