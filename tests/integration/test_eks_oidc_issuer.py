# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""eks_oidc_issuer through real ansible-playbook runs against moto."""

import os
import subprocess

import pytest

from tests.conftest import ANSIBLE_BIN

pytestmark = pytest.mark.integration


def lookup_play(name="look up", **options):
    return [{
        "name": "eks_oidc_issuer",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": name, "torque.eks_irsa.eks_oidc_issuer": options, "register": "cluster"}],
    }]


def test_issuer_found_with_one_read(local_stack, run_playbook):
    local_stack.reset_aws_requests()
    run = run_playbook(lookup_play(cluster_name=local_stack.cluster_name, account_id="222222222222"))
    assert run.rc == 0, run
    result = run.result("look up")
    host_path = local_stack.issuer.removeprefix("https://")
    assert result["changed"] is False
    assert result["issuer"] == local_stack.issuer
    assert result["issuer_host_path"] == host_path
    assert result["issuer_id"] == host_path.rsplit("/", 1)[-1]
    assert result["cluster_arn"] == f"arn:aws:eks:eu-west-1:123456789012:cluster/{local_stack.cluster_name}"
    assert result["partition"] == "aws"
    assert result["provider_arn"] == f"arn:aws:iam::222222222222:oidc-provider/{host_path}"
    calls = [(r["service"], r["action"]) for r in local_stack.aws_requests()]
    assert calls == [("eks", f"GET /clusters/{local_stack.cluster_name}")]


def test_default_account_is_the_cluster_account_and_check_mode_reads_the_same(local_stack, run_playbook):
    run = run_playbook(lookup_play(cluster_name=local_stack.cluster_name), check=True)
    assert run.rc == 0, run
    result = run.result("look up")
    assert result["changed"] is False
    assert result["account_id"] == "123456789012"
    assert result["provider_arn"].startswith("arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.")


def test_unknown_cluster_names_cluster_and_region(local_stack, run_playbook):
    run = run_playbook(lookup_play(cluster_name="no-such-cluster"))
    assert run.rc == 2
    result = run.result("look up")
    assert result["failed"] is True
    assert result["msg"].startswith("EKS cluster 'no-such-cluster' was not found in region 'eu-west-1'")
    assert "Traceback" not in result["msg"]


def test_cluster_in_another_region(local_stack, run_playbook):
    local_stack.create_cluster("west-agents", "us-west-2")
    play = [{
        "name": "region via the action group",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/torque.eks_irsa.aws": {"region": "us-west-2"}},
        "tasks": [{"name": "look up", "torque.eks_irsa.eks_oidc_issuer": {"cluster_name": "west-agents"}}],
    }]
    run = run_playbook(play)
    assert run.rc == 0, run
    assert run.result("look up")["issuer"].startswith("https://oidc.eks.us-west-2.amazonaws.com/id/")

    run = run_playbook(lookup_play(cluster_name="west-agents"))  # the stack's default region, eu-west-1
    assert run.rc == 2
    assert "'west-agents' was not found in region 'eu-west-1'" in run.result("look up")["msg"]


def test_bad_account_id_is_refused_before_any_call(local_stack, run_playbook):
    local_stack.reset_aws_requests()
    run = run_playbook(lookup_play(cluster_name=local_stack.cluster_name, account_id="2222"))
    assert run.rc == 2
    assert run.result("look up")["msg"].startswith("account_id '2222' is not an AWS account ID: it must be exactly 12 digits")
    assert local_stack.aws_requests() == []


def test_ansible_doc_renders_the_module():
    ansible_doc = os.path.join(ANSIBLE_BIN, "ansible-doc")
    output = subprocess.run([ansible_doc, "torque.eks_irsa.eks_oidc_issuer"], capture_output=True, text=True,
                            check=True, env=dict(os.environ, ANSIBLE_NOCOLOR="1")).stdout
    for expected in ("cluster_name", "account_id", "issuer_host_path", "provider_arn", "eks:DescribeCluster"):
        assert expected in output
