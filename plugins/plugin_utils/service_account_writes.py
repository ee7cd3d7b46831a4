# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ServiceAccounts of several namespaces, each group on its own: read once, compared, written only where they differ.

One group is one namespace of one cluster. With ``state: present`` its manifests are built and checked
(``service_account_manifests``), the namespace is read once (:func:`~.kube_access.read_namespace`), a ServiceAccount
someone else made is refused unless adopted (``service_account_status``), the namespace is created on request, and only
the ServiceAccounts that differ are applied (:func:`~.kube_apply.apply`). With ``state: absent`` the ServiceAccounts
this collection made are deleted and the fields it applied to adopted ones released (``service_account_deletions``).
A group with ``render_dir`` is written to files there, on the controller, and the cluster is not reached.

Every decision is :mod:`.service_accounts`' and every write kube_apply's, so a group does here exactly what the role's
tasks once did one task at a time, for the cost of one task. A group that fails (its namespace is missing, a
ServiceAccount would be taken over, the cluster cannot be reached or refuses a write, its render directory cannot be
written) raises :class:`GroupFailed` with what was done before, for the caller to stop or to record it and go on with
the next group.
"""

from __future__ import annotations

import os
import tempfile

import yaml

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_access
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import kube_apply
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import service_accounts as sa

PRESENT, ABSENT = kube_apply.PRESENT, kube_apply.ABSENT
MISSING_NAMESPACE_FIX = "set service_account_create_namespace: true to let this role create it"
ACCESS_FIELD = "kubeconfig and context"
FILE_MODE, DIRECTORY_MODE = 0o644, 0o755


class GroupFailed(EksIrsaError):
    """One group's failure: ``details`` carry ``changed`` (whether a write of the group went through first) and ``diff``."""


def label_of(group):
    """The group's key in results and messages: its ``label``, else its namespace."""
    return group.get("label") or group["namespace"]


class Writes:
    """What one group did: ``changed`` and, in diff mode, the diffs, gathered from each write."""

    def __init__(self, diff):
        self.diff, self.changed, self.diffs = diff, False, []

    def record(self, result):
        self.changed = self.changed or bool(result.get("changed"))
        found = result.get("diff")
        if self.diff and found:
            self.diffs.extend(found if isinstance(found, list) else [found])


def apply_group(group, settings, check_mode=False, diff=False, connect=None):
    """Do one group (see the module docstring); returns ``(status, writes)``: ``{name: what was done}`` and :class:`Writes`.

    ``settings`` are the run's: ``labels``, ``sts_regional_endpoints``, ``token_expiration`` and ``access_field`` (the
    variables that chose the access, named in a failure's fix). Raises :class:`GroupFailed`.
    """
    writes = Writes(diff)
    try:
        if group["state"] == ABSENT:
            return _delete(group, settings, writes, check_mode, connect), writes
        manifests = sa.service_account_manifests(group["service_accounts"], group["namespace"], labels=settings.get("labels"),
                                                 sts_regional_endpoints=settings.get("sts_regional_endpoints"),
                                                 token_expiration=settings.get("token_expiration"))
        if group.get("render_dir"):
            return _render(group["render_dir"], manifests, writes, check_mode), writes
        return _apply(group, manifests, settings, writes, check_mode, connect), writes
    except EksIrsaError as error:
        changed = writes.changed or bool(error.details.get("changed"))
        raise GroupFailed(error.message, changed=changed, diff=writes.diffs) from None


def _read(group, settings, connect):
    return kube_access.read_namespace(group["namespace"], group.get("kubeconfig"), group.get("context"),
                                      field=settings.get("access_field") or ACCESS_FIELD, connect=connect)


def _write(definitions, group, settings, writes, check_mode, connect, **options):
    writes.record(kube_apply.apply(definitions, kubeconfig=group.get("kubeconfig"), context=group.get("context"),
                                   check_mode=check_mode, diff=writes.diff, connect=connect,
                                   field=settings.get("access_field") or ACCESS_FIELD, **options))


def _apply(group, manifests, settings, writes, check_mode, connect):
    namespace = group["namespace"]
    read = _read(group, settings, connect)
    if not read["exists"] and not group.get("create_namespace"):
        raise EksIrsaError(f"service_account_namespace: namespace '{namespace}' does not exist in the cluster. Create it, or "
                           f"{group.get('create_namespace_fix') or MISSING_NAMESPACE_FIX}.")
    # Refuses, before any write, a ServiceAccount someone else made whose item does not say adopt.
    status = sa.service_account_status(manifests, read["service_accounts"], group["service_accounts"], namespace)
    if not read["exists"]:
        _write([sa.service_account_namespace_manifest(namespace)], group, settings, writes, check_mode, connect)
    differing = [manifest for manifest in manifests if status[manifest["metadata"]["name"]] != "ok"]
    # In check mode a namespace that is only being created does not exist for the API server's dry run: the prediction
    # is then service_account_status's alone. force_conflicts: the fields this collection sets are taken over from
    # another manager that last wrote them; every other field stays.
    if differing and not (check_mode and not read["exists"]):
        _write(differing, group, settings, writes, check_mode, connect, force_conflicts=True)
    return status


def _delete(group, settings, writes, check_mode, connect):
    read = _read(group, settings, connect)
    deletions = sa.service_account_deletions(group["service_accounts"], read["service_accounts"], group["namespace"])
    if deletions["refs"]:
        _write(deletions["refs"], group, settings, writes, check_mode, connect, state=ABSENT)
    # An adopted ServiceAccount stays: applying nothing but its name, as the same field manager, removes exactly the
    # fields this collection applied and leaves everything else as it was.
    if deletions["releases"]:
        _write(deletions["releases"], group, settings, writes, check_mode, connect)
    return deletions["status"]


def manifest_text(manifest):
    """One rendered manifest file: a YAML document, keys in the manifest's order."""
    return "---\n" + yaml.safe_dump(manifest, indent=2, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _render(directory, manifests, writes, check_mode):
    """One ``<name>.yaml`` per manifest in ``directory`` (made when missing), on the controller: ``rendered`` when the file
    was (or, in check mode, would be) written, ``ok`` when it already holds exactly that, mode 0644 included."""
    status = {}
    for manifest in manifests:
        name = manifest["metadata"]["name"]
        path = os.path.join(directory, f"{name}.yaml")
        try:
            status[name] = _render_file(directory, path, manifest_text(manifest), writes, check_mode)
        except OSError as e:
            raise EksIrsaError(f"render_dir: cannot write {path}: {e.strerror}. Fix: choose a directory this user can "
                               "write, or make it writable", changed=writes.changed) from None
    return status


def _render_file(directory, path, text, writes, check_mode):
    before = _file_text(path)
    if before == text and os.stat(path).st_mode & 0o777 == FILE_MODE:
        return "ok"
    writes.record({"changed": True, "diff": {"before": before or "", "after": text, "before_header": path, "after_header": path}})
    if not check_mode:
        _write_file(directory, path, text)
    return "rendered"


def _file_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _write_file(directory, path, text):
    """Write ``text`` to ``path`` whole or not at all (a reader never sees half a manifest)."""
    os.makedirs(directory, mode=DIRECTORY_MODE, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".", suffix=".yaml.tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def apply_groups(groups, settings, check_mode=False, diff=False, keep_going=False, connect=None):
    """Every group in order (:func:`apply_group`); returns ``{changed, results: {label: {status, error}}, diff?}``.

    A failing group raises :class:`GroupFailed` (the later groups are not done), or with ``keep_going`` is recorded as
    ``{status: {}, error: <why>}`` and the next group is done all the same.
    """
    changed, results, diffs = False, {}, []
    for group in groups:
        label = label_of(group)
        try:
            status, writes = apply_group(group, settings, check_mode, diff, connect)
        except GroupFailed as failed:
            changed = changed or failed.details["changed"]
            diffs.extend(failed.details["diff"])
            if not keep_going:
                raise GroupFailed(failed.message, changed=changed, diff=diffs, results=results, group=label) from None
            results[label] = {"status": {}, "error": failed.message}
            continue
        changed = changed or writes.changed
        diffs.extend(writes.diffs)
        results[label] = {"status": status, "error": None}
    outcome = {"changed": changed, "results": results}
    if diff:
        outcome["diff"] = diffs
    return outcome
