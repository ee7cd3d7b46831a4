# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""kubernetes.core's connection options as the modules take them, and what they hand to its client (kube_client.py).
Connecting with them is tested through the module that uses them (tests/unit/plugins/modules/test_irsa_token_proof.py)."""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.modules import aws_argument_spec
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils import kube_client


def test_every_option_of_kubernetes_core_is_taken_its_tls_check_by_its_alias_beside_amazon_aws_validate_certs():
    spec = kube_client.auth_argument_spec()
    assert sorted(spec) == sorted(kube_client.RENAMED.get(name, name) for name in AUTH_ARG_SPEC)
    assert "validate_certs" in aws_argument_spec() and not set(spec) & set(aws_argument_spec())
    assert spec["verify_ssl"] == {"type": "bool"}
    assert spec["context"]["aliases"] == ["kube_context"]
    assert spec["kubeconfig"] == {"type": "raw", "no_log": True}
    assert spec["api_key"]["no_log"] and spec["password"]["no_log"]
    assert spec["ca_cert"]["aliases"] == ["ssl_ca_cert"] and spec["impersonate_groups"]["type"] == "list"
    assert "no_log" not in AUTH_ARG_SPEC["context"]  # kubernetes.core's own spec is left as it is


def test_only_the_options_given_reach_kubernetes_core_by_its_names_the_rest_it_reads_from_the_environment():
    params = dict.fromkeys(kube_client.auth_argument_spec())
    params.update(host="https://kube.example:6443", verify_ssl=False, context="blue", impersonate_groups=["readers"], namespace="envs")
    assert kube_client.auth_kwargs(params) == {"host": "https://kube.example:6443", "validate_certs": False, "context": "blue",
                                               "impersonate_groups": ["readers"]}


def test_the_api_is_made_on_the_api_client_of_kubernetes_core_client():
    class ApiClient:
        pass

    api_client, given = ApiClient(), []

    class K8SClient:  # kubernetes.core's: .client is its DynamicClient, whose .client is the kubernetes ApiClient
        def __init__(self, **kwargs):
            given.append(kwargs)
            self.client = type("DynamicClient", (), {"client": api_client})()

    api = kube_client.core_v1_api({"host": "https://kube.example:6443", "api_key": "t"}, connect=K8SClient)
    assert api.api_client is api_client and given == [{"host": "https://kube.example:6443", "api_key": "t"}]
