# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The Torque blueprint (spec_version 2) snippets of a rollout: what goes into ``grains.<grain>.spec.agent``.

A grain's agent names the Torque agent (``name``), the ServiceAccount its runner pods run as (``service-account``) and
the namespace they run in (``runner-namespace``); the ServiceAccount must live in that namespace. From the rollout's
results this makes, per account (inventory host), a snippet with one grain per ServiceAccount that deploys into it, and
per namespace of a cluster, one snippet whose input ``service_account`` picks the ServiceAccount, and so the account.
An agent not named by ``eks_irsa_torque_agent`` becomes the blueprint input ``agent`` (Torque's agent type).

In the hub topology every grain runs as the hub's ServiceAccount and reaches its account through a spoke role: its
Terraform AWS provider assumes it (``spec.provider-overrides[].attributes.assume_role.role_arn``, and ``external_id``
when the spokes require one). The spoke roles have the same name in every account, so one snippet per spoke role and
cluster covers every account: its input ``target_account`` (the account ID) goes into the role ARN.
"""

from __future__ import annotations

import re

import yaml

from ansible_collections.torque.eks_irsa.plugins.module_utils.names import split_arn

AGENT_INPUT = "agent"
SERVICE_ACCOUNT_INPUT = "service_account"
ACCOUNT_INPUT = "target_account"
COMBINED_FILE_PREFIX, HUB_FILE_PREFIX = "all-accounts-", "all-accounts-hub-"
# Torque's names of grains and inputs: letters, digits, - and _, 3 to 45 of them.
_NOT_IN_A_GRAIN_NAME_RE = re.compile(r"[^A-Za-z0-9_-]+")
GRAIN_NAME_LENGTH = (3, 45)
_NOT_IN_A_FILE_NAME_RE = re.compile(r"[^A-Za-z0-9]+")
HEADER = "# Written by torque.eks_irsa from the rollout's results; it rewrites this file on every rollout.\n"


def _text(value):
    """``value`` as an exact str. Before ansible-core 2.19, text from a module's result or the inventory is a str subclass
    whose ``__str__`` keeps the subclass, and YAML cannot represent it; ``str.__str__`` copies the characters."""
    return str.__str__(value) if isinstance(value, str) else str(value)


def _plain(entry):
    return {key: None if value is None else _text(value) for key, value in entry.items()}


def file_name_part(text):
    """``text`` with each run of characters other than letters and digits as ``-``: a part of a file name."""
    return _NOT_IN_A_FILE_NAME_RE.sub("-", str(text)).strip("-") or "x"


def grain_name(text, taken):
    """A Torque grain name from ``text`` (a role name), not in ``taken``."""
    low, high = GRAIN_NAME_LENGTH
    base = _NOT_IN_A_GRAIN_NAME_RE.sub("-", str(text)).strip("-")[:high]
    base = base if len(base) >= low else f"grain-{base}".rstrip("-")
    name, number = base, 1
    while name in taken:
        number += 1
        suffix = f"-{number}"
        name = base[:high - len(suffix)] + suffix
    taken.add(name)
    return name


def agent(entry, agents):
    """A grain's ``spec.agent`` for ``entry`` (one ServiceAccount: ``cluster``, ``namespace``, ``service_account``)."""
    name = _text(agents.get(entry.get("cluster")) or "{{ .inputs.%s }}" % AGENT_INPUT)
    return {"name": name, "service-account": entry["service_account"], "runner-namespace": entry["namespace"]}


def provider_overrides(role_arn, external_id=None):
    """A grain's ``spec.provider-overrides``: the Terraform AWS provider assumes ``role_arn`` (a spoke role)."""
    assume_role = dict({"role_arn": role_arn}, **({"external_id": external_id} if external_id else {}))
    return [{"name": "aws", "source": "hashicorp/aws", "attributes": {"assume_role": assume_role}}]


def grain_spec(entry, agents):
    """A grain's ``spec``: its agent, and for a spoke role the provider override that assumes it."""
    spec = {"agent": agent(entry, agents)}
    if entry.get("role_arn"):
        spec["provider-overrides"] = provider_overrides(entry["role_arn"], entry.get("external_id"))
    return spec


def _agent_inputs(entries, agents):
    clusters = sorted({entry.get("cluster") or "" for entry in entries if not agents.get(entry.get("cluster"))})
    if not clusters:
        return {}
    where = f" on cluster {', '.join(clusters)}" if any(clusters) else ""
    return {AGENT_INPUT: {"type": "agent", "description": f"The Torque agent{where} whose runner pods use these ServiceAccounts"}}


def _where(entry):
    return f"account {entry['account_id']} ({entry['host']})"


def account_document(entries, agents):
    """The snippet of one account (host): a terraform grain per ServiceAccount that deploys into it, named after its role."""
    first = entries[0]
    taken = set()
    grains = {grain_name(entry["role"], taken): {"kind": "terraform", "spec": grain_spec(entry, agents)} for entry in entries}
    document = {"spec_version": 2,
                "description": f"Deploys into AWS {_where(first)} with the role{'s' if len(entries) > 1 else ''} "
                               + ", ".join(sorted({entry["role"] for entry in entries}))}
    inputs = _agent_inputs(entries, agents)
    if inputs:
        document["inputs"] = inputs
    document["grains"] = grains
    return document


def combined_document(entries, agents):
    """The snippet of one namespace of one cluster: its input ``service_account`` picks the ServiceAccount, and so the
    account, the grain deploys into."""
    first = entries[0]
    choices = "; ".join(f"{entry['service_account']}: {_where(entry)}, role {entry['role']}" for entry in entries)
    document = {
        "spec_version": 2,
        "description": "Deploys into the AWS account that the input service_account picks",
        "inputs": dict({SERVICE_ACCOUNT_INPUT: {
            "type": "string",
            "description": f"The ServiceAccount the grain runs as, which picks the AWS account it deploys into: {choices}",
            "allowed-values": [entry["service_account"] for entry in entries],
        }}, **_agent_inputs(entries, agents)),
        "grains": {"deploy": {"kind": "terraform", "spec": {"agent": dict(
            agent(first, agents), **{"service-account": "{{ .inputs.%s }}" % SERVICE_ACCOUNT_INPUT})}}},
    }
    return document


def hub_document(entries, agents):
    """The snippet of one spoke role (in one cluster): its input ``target_account`` picks the account whose spoke role the
    grain's AWS provider assumes."""
    first = entries[0]
    parts = split_arn(first["role_arn"])  # the role's ARN as IAM returned it
    choices = "; ".join(f"{entry['account_id']}: {entry['host']}" for entry in entries)
    arn = f"arn:{parts['partition']}:iam::{{{{ .inputs.{ACCOUNT_INPUT} }}}}:{parts['resource']}"
    return {
        "spec_version": 2,
        "description": f"Deploys with the role {first['role']} of the AWS account that the input {ACCOUNT_INPUT} picks",
        "inputs": dict({ACCOUNT_INPUT: {
            "type": "string",
            "description": f"The AWS account the grain deploys into (its role {first['role']}): {choices}",
            "allowed-values": [entry["account_id"] for entry in entries],
        }}, **_agent_inputs(entries, agents)),
        "grains": {"deploy": {"kind": "terraform", "spec": dict(
            {"agent": agent(first, agents)}, **{"provider-overrides": provider_overrides(arn, first.get("external_id"))})}},
    }


def blueprint_files(entries, agents, several_clusters):
    """``{relative path: YAML text}``: ``accounts/<host>-<account id>.yaml`` per host; per namespace (of each cluster,
    with several) ``all-accounts-[<cluster>-]<namespace>.yaml``; per spoke role (of each cluster)
    ``all-accounts-hub-[<cluster>-]<role>.yaml``. ``entries`` are the applied ServiceAccounts, each ``{host, account_id,
    role, cluster, namespace, service_account}`` (a spoke's with ``role_arn`` and ``external_id``), in the summary's order."""
    by_host, by_group, by_spoke = {}, {}, {}
    entries = [_plain(entry) for entry in entries]
    for entry in entries:
        cluster = entry.get("cluster") if several_clusters else None
        by_host.setdefault((entry["host"], entry["account_id"]), []).append(entry)
        if entry.get("role_arn"):
            by_spoke.setdefault((cluster, entry["role"]), []).append(entry)
        else:
            by_group.setdefault((cluster, entry["namespace"]), []).append(entry)
    files = {}
    for (host, account_id), host_entries in by_host.items():
        files[f"accounts/{file_name_part(host)}-{account_id}.yaml"] = render(account_document(host_entries, agents))
    for prefix, groups, document in ((COMBINED_FILE_PREFIX, by_group, combined_document), (HUB_FILE_PREFIX, by_spoke, hub_document)):
        for (cluster, name), group_entries in sorted(groups.items(), key=lambda item: (item[0][0] or "", item[0][1])):
            parts = [cluster, name] if cluster else [name]
            files[f"{prefix}{'-'.join(file_name_part(part) for part in parts)}.yaml"] = render(document(group_entries, agents))
    return files


def render(document):
    """A snippet as the file holds it: the header comment, then the YAML."""
    return HEADER + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=120)


def agent_line(entry, agents):
    """One ServiceAccount's ``spec.agent`` on one line (YAML flow style), as the summary shows it."""
    return yaml.safe_dump(agent(_plain(entry), agents), default_flow_style=True, sort_keys=False, width=10 ** 6).strip()
