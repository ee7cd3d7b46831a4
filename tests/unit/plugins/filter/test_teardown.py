# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.torque.eks_irsa.plugins.filter import teardown
from ansible_collections.torque.eks_irsa.plugins.filter.teardown import teardown_stats
from ansible_collections.torque.eks_irsa.plugins.filter.teardown import teardown_summary

BLUE = "arn:aws:iam::222222222222:oidc-provider/oidc.example/blue"
KEPT = "still trusted by team-x-deployer"


def _hostvars(clusters=("agents",)):
    providers = [{"cluster": cluster, "url": f"https://oidc.example/{cluster}", "state": "present"} for cluster in clusters]
    trusted = [{"cluster": cluster, "namespace": "envs", "name": "runner", "pattern": False} for cluster in clusters]
    roles = [{"trusted": trusted, "retired_service_accounts": [], "params": {"name": name}, "source": f"eks_irsa_roles[{index}] ({name})"}
             for index, name in enumerate(("runner", "reader"))]
    plan = {"dev": {"account_id": "222222222222", "providers": providers, "roles": roles},
            "prod": {"account_id": "333333333333", "providers": providers, "roles": roles}}
    done = [{"arn": BLUE, "status": "kept", "kept": KEPT, "trusted_by": ["team-x-deployer"]}] + \
        [{"arn": f"{BLUE}-{cluster}", "status": "deleted"} for cluster in clusters[1:]]
    result = {"roles": {name: {"name": name, "arn": f"arn:aws:iam::222222222222:role/{name}", "status": "deleted"}
                        for name in ("runner", "reader")}}
    result.update({"providers": done} if len(clusters) > 1 else {"provider": done[0]})
    return {"dev": {"eks_irsa_plan": plan, "eks_irsa_account_result": result},
            "prod": {"eks_irsa_plan": plan, "eks_irsa_error": "prod: could not assume arn:aws:iam::333333333333:role/deployer"}}


def test_the_summary_says_per_account_what_went_what_was_kept_and_why_and_what_failed():
    summary = teardown_summary(["prod", "dev"], _hostvars())
    assert summary["lines"] == [
        "ACCOUNT       HOST  PROVIDER  ROLE    ROLE STATUS",
        "222222222222  dev   kept      runner  deleted",
        "222222222222  dev   kept      reader  deleted",
        "333333333333  prod  FAILED    -       -",
        "FAILED prod (333333333333): prod: could not assume arn:aws:iam::333333333333:role/deployer",
        f"WARNING dev (222222222222): OIDC provider {BLUE} kept: {KEPT}; delete it once nothing else needs it, or run the "
        "teardown again then",
    ]
    assert summary["failed"] == ["prod"]
    assert summary["accounts"]["dev"] == {
        "account_id": "222222222222", "providers": {"agents": "kept"}, "error": None,
        "roles": [{"name": "runner", "arn": "arn:aws:iam::222222222222:role/runner", "status": "deleted"},
                  {"name": "reader", "arn": "arn:aws:iam::222222222222:role/reader", "status": "deleted"}],
        "warnings": [f"OIDC provider {BLUE} kept: {KEPT}"]}
    assert summary["accounts"]["prod"]["roles"] == [] and summary["accounts"]["prod"]["error"].startswith("prod: could not")


def test_with_several_clusters_each_provider_has_its_row():
    summary = teardown_summary(["dev"], {"dev": _hostvars(("blue", "green"))["dev"]}, [{"name": "blue"}, {"name": "green"}])
    assert summary["lines"][:5] == [
        "ACCOUNT       HOST  CLUSTER  PROVIDER  ROLE    ROLE STATUS",
        "222222222222  dev   blue     kept      -       -",
        "222222222222  dev   green    deleted   -       -",
        "222222222222  dev   -        -         runner  deleted",
        "222222222222  dev   -        -         reader  deleted",
    ]
    assert summary["accounts"]["dev"]["providers"] == {"blue": "kept", "green": "deleted"}


def test_the_published_stats_are_the_summary_and_one_key_per_account():
    stats = teardown_stats(teardown_summary(["prod", "dev"], _hostvars()))
    assert set(stats) == {"eks_irsa_teardown", "eks_irsa_teardown_account_222222222222_dev", "eks_irsa_teardown_account_333333333333_prod"}
    assert "lines" not in stats["eks_irsa_teardown"] and stats["eks_irsa_teardown"]["failed"] == ["prod"]
    assert stats["eks_irsa_teardown_account_222222222222_dev"]["host"] == "dev"
    assert stats["eks_irsa_teardown_account_222222222222_dev"]["warnings"] == [f"OIDC provider {BLUE} kept: {KEPT}"]


def test_the_filters_are_registered():
    assert set(teardown.FilterModule().filters()) == {"teardown_stats", "teardown_summary"}
