# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The filters that read each cluster once and isolate the accounts of one that fails (plugins/filter/clusters.py)."""

import pytest
import urllib3
from ansible.errors import AnsibleFilterError

from ansible_collections.torque.eks_irsa.plugins.filter import clusters
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_access

CLUSTERS = [{"name": "blue", "state": "present", "kubeconfig": "/k/blue", "context": None},
            {"name": "green", "state": "present", "kubeconfig": "/k/green", "context": "admin"}]


def sa(cluster, name, namespace="envs"):
    return {"cluster": cluster, "namespace": namespace, "name": name}


def plan(*service_accounts, retired=(), adopt=False):
    return {"roles": [{"params": {"name": "runner", "adopt": adopt}, "source": "eks_irsa_roles[0] (runner)",
                       "service_accounts": list(service_accounts), "retired_service_accounts": list(retired)}]}


class Client:
    def __init__(self, existing):
        self.existing = existing

    def resource(self, kind, api_version):
        return kind

    def get(self, resource, namespace):
        existing = self.existing

        class Answer:
            def to_dict(self):
                return {"items": existing.get((resource, namespace), [])}

        return Answer()


@pytest.fixture
def green_down(monkeypatch):
    """blue answers (with ``blue.existing``), green refuses connections."""
    blue = Client({})

    def connect(**access):
        if access.get("kubeconfig") == "/k/green":
            reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
            raise urllib3.exceptions.MaxRetryError(None, "/version", reason)
        return blue

    monkeypatch.setattr(kube_access, "get_api_client", connect)
    return blue


def test_every_filter_is_registered_under_its_function_name():
    filters = clusters.FilterModule().filters()
    assert set(filters) == {"cluster_reads", "rollout_cluster_check", "teardown_cluster_check", "teardown_blocked"}
    assert all(function.__name__ == name for name, function in filters.items())


def test_the_rollout_blocks_exactly_the_accounts_with_service_accounts_in_the_cluster_that_is_down(green_down):
    plans = {"dev": plan(sa("blue", "runner-dev")), "prod": plan(sa("green", "runner-prod")),
             "both": plan(sa("blue", "runner-both"), sa("green", "runner-both"))}
    blocked = clusters.rollout_cluster_check(plans, CLUSTERS, True)
    assert sorted(blocked) == ["both", "prod"]
    assert blocked["prod"].startswith("cluster green: cannot connect to its Kubernetes API server")
    assert "(kubeconfig /k/green, context admin): connection refused; nothing was written for this account" in blocked["prod"]
    assert "eks_irsa_clusters[1] (green)" in blocked["prod"]
    assert clusters.rollout_cluster_check({"dev": plans["dev"]}, CLUSTERS, True) == {}


def test_the_rollout_still_refuses_a_takeover_in_a_cluster_it_can_read(green_down):
    green_down.existing = {("ServiceAccount", "envs"): [{"metadata": {"name": "runner-dev", "labels": {"team": "x"}}}]}
    with pytest.raises(AnsibleFilterError, match="would be taken over; nothing was written"):
        clusters.rollout_cluster_check({"dev": plan(sa("blue", "runner-dev"))}, CLUSTERS, True)
    assert clusters.rollout_cluster_check({"dev": plan(sa("blue", "runner-dev"), adopt=True)}, CLUSTERS, True) == {}


def test_the_teardown_deletes_nothing_of_a_blocked_account_and_keeps_its_roles(green_down):
    plans = {"dev": plan(sa("blue", "runner-dev")), "both": plan(sa("blue", "runner-both"), retired=[sa("green", "runner-both")])}
    checked = clusters.teardown_cluster_check(plans, CLUSTERS, True)
    assert list(checked["blocked"]) == ["both"] and "roles and OIDC provider are kept" in checked["blocked"]["both"]
    assert [(g["label"], [i["name"] for i in g["service_accounts"]]) for g in checked["groups"]] == [("blue/envs", ["runner-dev"])]
    assert clusters.teardown_blocked(checked, plans, CLUSTERS, {"blue/envs": {"status": {"runner-dev": "deleted"}, "error": None}}) \
        == checked["blocked"]
    failed = clusters.teardown_blocked(checked, plans, CLUSTERS, {"blue/envs": {"status": {}, "error": "forbidden"}})
    assert sorted(failed) == ["both", "dev"] and failed["dev"].startswith("ServiceAccounts in blue/envs: forbidden")
    assert clusters.teardown_blocked({}, plans, CLUSTERS, {}) == {}


def test_cluster_reads_gives_each_groups_objects_and_the_clusters_that_failed(green_down):
    green_down.existing = {("Pod", "envs"): [{"metadata": {"name": "p"}}]}
    groups = [{"cluster": "blue", "namespace": "envs", "label": "blue/envs"}, {"cluster": "green", "namespace": "envs", "label": "green/envs"}]
    reads = clusters.cluster_reads(groups, CLUSTERS, True, ["ServiceAccount", "Pod"])
    assert reads["groups"] == [{"cluster": "blue", "namespace": "envs", "label": "blue/envs",
                                "objects": {"ServiceAccount": [], "Pod": [{"metadata": {"name": "p"}}]}}]
    assert [(f["cluster"], f["kind"]) for f in reads["failures"]] == [("green", "connect")]
