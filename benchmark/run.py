# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout benchmark: ours (torque.eks_irsa.rollout) against a hand-written baseline, on the local stack.

    .venv/bin/python -m benchmark.run [--accounts 1,10,50,100] [--repeat 3] [--forks 10] [--out .build/benchmark]

For each N and each repetition a fresh local stack is started (one EKS cluster). Each playbook gets N
accounts of its own, all warmed before anything is timed (moto loads the AWS managed policies into an
account on its first use, about 0.9 s each, serialised), and a namespace of its own, created up front.
On those fresh accounts each playbook then runs, in this order and timed one by one:

1. ``--check``: fresh accounts, nothing exists yet (and check mode must leave it so);
2. converge: creates everything;
3. no-op: the same run again, with nothing left to change.

Every run records wall time, the AWS and Kubernetes calls it made (the stack's request logs), the peak
memory of the controller process tree, its PLAY RECAP and a per-task profile (benchmark/callback_plugins).
After both playbooks converged, one account of each is compared to prove they reached the same end state.
Results: the raw ``<out>/<name>.json`` and ``<out>/<name>.md`` (out of git), and the published table
``benchmark/results/latest.md`` refreshed (see benchmark/README.md).
"""

import argparse
import datetime
import hashlib
import io
import json
import os
import platform
import re
import resource
import signal
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

from benchmark import calls, endstate, inventory, procmem, report
from tests.stack.local_stack import CLUSTER_ACCOUNT, LocalStack

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(REPO_ROOT, "benchmark")
BIN_DIR = os.path.dirname(sys.executable)
PLAYBOOKS = {
    "ours": "torque.eks_irsa.rollout",
    "baseline": os.path.join(BENCH_DIR, "baseline", "rollout.yml"),
}
TOOL_INDEX = {"ours": 0, "baseline": 1}  # each tool's accounts are 3<index>000000NNN
SCENARIOS = ("check", "converge", "noop")  # run in this order on the same fresh accounts
ORGANIZATION_MANAGEMENT = "399000000000"  # --organization: the management account, reached with the plugin's assume_role_arn
SECOND_CLUSTER_REGION = "us-west-2"  # another region than the stack's: moto gives every cluster of one region one issuer
COLLECTION_CONTENT = ("galaxy.yml", "meta", "plugins", "roles", "playbooks")  # what ansible-playbook loads of ours
_RECAP_RE = re.compile(r"(ok|changed|unreachable|failed|skipped|rescued|ignored)=(\d+)")


# -- command line -----------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmark.run", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--accounts", default="1,10,50,100", help="comma-separated account counts N (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per N; medians are reported (default: %(default)s)")
    parser.add_argument("--repeat-at", default="", metavar="N=R,...",
                        help="fewer (or more) repetitions for some N, e.g. 50=2,100=1 (large N take long)")
    parser.add_argument("--baseline-up-to", type=int, default=None, metavar="N",
                        help="run the baseline only for N up to this (it takes about 4 s per account); ours runs at every N")
    parser.add_argument("--forks", type=int, default=10, help="ansible-playbook --forks for both playbooks (default: %(default)s)")
    parser.add_argument("--tools", default="ours,baseline", help="which playbooks to run: ours, baseline or both (default: %(default)s)")
    parser.add_argument("--out", default=os.path.join(".build", "benchmark"),
                        help="folder of the raw results, out of git (default: %(default)s)")
    parser.add_argument("--name", default="latest", help="file name of the results in --out, without extension (default: %(default)s)")
    parser.add_argument("--publish", action=argparse.BooleanOptionalAction, default=None,
                        help="refresh benchmark/results/latest.md, the table kept in git, with these results (default: only "
                             "with --name latest)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the entries of <out>/<name>.json for the N and playbooks not measured by this invocation")
    parser.add_argument("--ref", default="HEAD",
                        help="the collection to measure: a git commit, 'worktree' for the files as they are now, or the collections "
                             "folder of an earlier --keep-work run (default: %(default)s)")
    parser.add_argument("--managed-policies", choices=["aws", "none"], default="aws",
                        help="'none': the roles attach no AWS managed policy and moto loads none (at N=500 loading them into "
                             "every account costs minutes and gigabytes of the stack's, not ours; default: %(default)s)")
    parser.add_argument("--clusters", type=int, choices=[1, 2], default=1,
                        help="2: ours rolls out to two clusters (eks_irsa_clusters; the second in another region, with its own "
                             "Kubernetes API), so every account gets two providers and every role two statements; the "
                             "baseline knows one cluster, so it needs --tools ours (default: %(default)s)")
    parser.add_argument("--organization", action="store_true",
                        help="ours only (--tools ours): the accounts are made in an AWS organization (moto's CreateAccount) "
                             "and the inventory is the plugin torque.eks_irsa.aws_accounts listing them, so each run includes "
                             "reading the organization")
    parser.add_argument("--keep-work", action="store_true", help="keep the inventories, logs and profiles (else kept only on failures)")
    args = parser.parse_args(argv)
    if args.publish is None:
        args.publish = args.name == "latest"
    args.accounts = [int(n) for n in args.accounts.split(",") if n.strip()]
    args.tools = [tool.strip() for tool in args.tools.split(",") if tool.strip()]
    try:
        args.repeat_at = {int(n): int(r) for n, r in (pair.split("=") for pair in args.repeat_at.split(",") if pair.strip())}
    except ValueError:
        parser.error("--repeat-at takes N=R pairs separated by commas, e.g. 50=2,100=1")
    unknown = set(args.tools) - set(PLAYBOOKS)
    counts = [args.repeat, *args.repeat_at.values()]
    if unknown or not args.tools or min(args.accounts, default=0) < 1 or min(counts) < 1:
        parser.error("--tools takes ours and/or baseline; --accounts and repetitions must be positive")
    if args.clusters > 1 and args.tools != ["ours"]:
        parser.error("--clusters 2 measures ours alone (the baseline rolls out to one cluster): add --tools ours")
    if args.organization and args.tools != ["ours"]:
        parser.error("--organization measures ours alone (the baseline reads no inventory plugin): add --tools ours")
    return args


def plan(args):
    """``[(n, repetitions, tools)]``: what this invocation measures."""
    steps = []
    for n in args.accounts:
        tools = [tool for tool in args.tools if tool != "baseline" or args.baseline_up_to is None or n <= args.baseline_up_to]
        steps.append((n, args.repeat_at.get(n, args.repeat), tools))
    return steps


# -- the stack --------------------------------------------------------------------------------------


def create_organization(stack, count):
    """An organization in :data:`ORGANIZATION_MANAGEMENT` with ``count`` accounts (``bench-NNN``); their IDs, in order."""
    client = stack.account_client("organizations", ORGANIZATION_MANAGEMENT, region="us-east-1")
    client.create_organization(FeatureSet="ALL")
    return [client.create_account(AccountName=f"bench-{number:03d}", Email=f"bench-{number:03d}@example.com")
            ["CreateAccountStatus"]["AccountId"] for number in range(1, count + 1)]


def warm_accounts(stack, accounts):
    """Make moto load the AWS managed policies into every account now, so no timed run pays for it; returns seconds."""
    started = time.monotonic()
    stack.client("eks").describe_cluster(name=stack.cluster_name)
    stack.client("iam").list_policies(MaxItems=1)  # the cluster account
    for account in accounts:
        stack.account_client("iam", account).list_policies(MaxItems=1)
    return time.monotonic() - started


def create_namespace(kube_url, name):
    """Create a namespace in a Kubernetes emulator (an environment namespace exists before a rollout)."""
    body = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).encode()
    request = urllib.request.Request(kube_url + "/api/v1/namespaces", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def reset_requests(stack):
    """Clear the AWS and Kubernetes request logs."""
    stack.reset_aws_requests()
    request = urllib.request.Request(stack.kube_url + "/_emulator/requests", method="DELETE")
    with urllib.request.urlopen(request, timeout=10):
        pass


# -- the collection under test ----------------------------------------------------------------------


def snapshot_collection(folder, ref):
    """Copy the collection's content into ``folder``/ansible_collections/torque/eks_irsa; returns the collections path.

    ``ref`` is a git commit (``HEAD`` by default: reproducible, and untouched by edits in progress),
    ``worktree`` for the files as they are now, or the ``collections`` folder an earlier ``--keep-work``
    invocation left (used as it is, to measure more N on the same code). Every run of one invocation
    measures this same copy (ANSIBLE_COLLECTIONS_PATH is searched before the venv's link to the working tree).
    """
    if os.path.isdir(os.path.join(ref, "ansible_collections", "torque", "eks_irsa")):
        return os.path.abspath(ref)
    target = os.path.join(folder, "ansible_collections", "torque", "eks_irsa")
    os.makedirs(target)
    if ref == "worktree":
        for name in COLLECTION_CONTENT:
            source = os.path.join(REPO_ROOT, name)
            if os.path.isdir(source):
                shutil.copytree(source, os.path.join(target, name), ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif os.path.exists(source):
                shutil.copy2(source, target)
    else:
        archive = subprocess.run(["git", "archive", "--format=tar", ref, "--", *COLLECTION_CONTENT], cwd=REPO_ROOT,
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return folder


def _content_files(root):
    """Relative paths of the collection content files under ``root``, sorted, without bytecode."""
    found = []
    for name in COLLECTION_CONTENT:
        path = os.path.join(root, name)
        if os.path.isfile(path):
            found.append(name)
        for directory, _folders, files in os.walk(path):
            found.extend(os.path.relpath(os.path.join(directory, f), root) for f in files if not f.endswith(".pyc"))
    return sorted(found)


def fingerprint(root):
    """A short SHA-256 of the collection content under ``root`` (paths and bytes), to tell versions apart."""
    digest = hashlib.sha256()
    for relative in _content_files(root):
        digest.update(relative.encode() + b"\0")
        with open(os.path.join(root, relative), "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()[:12]


# -- one ansible-playbook run -----------------------------------------------------------------------


def playbook_env(stack, profile_path, collections_path, tmp_dir):
    """The environment of a timed run: the stack's, the venv first on PATH, the collection snapshot, the profiling callback on.

    ``TMPDIR`` is a new empty folder for each run: the Kubernetes client caches the API discovery there
    (``k8srcp-*.json``), so every run starts without that cache, as a fresh AWX execution environment does,
    whichever playbook ran before it on the same stack.
    """
    env = dict(os.environ, **stack.env())
    env.update(
        PATH=BIN_DIR + os.pathsep + env.get("PATH", ""),
        TMPDIR=tmp_dir,
        ANSIBLE_COLLECTIONS_PATH=collections_path,
        ANSIBLE_CALLBACK_PLUGINS=os.path.join(BENCH_DIR, "callback_plugins"),
        ANSIBLE_CALLBACKS_ENABLED="bench_profile",
        BENCH_PROFILE_OUT=profile_path,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
    )
    return env


def _children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_playbook(playbook, inventory_path, env, forks, check, log_path, stack_pids):
    """Run ansible-playbook once; returns wall time, exit code, the controller tree's peak memory and CPU time.

    CPU time is less sensitive than wall time to other load on the machine: ``controller_cpu_s`` is what the
    ansible-playbook tree used (its workers and module processes included, as each parent waits for its
    children), ``stack_cpu_s`` what the local stack's servers used meanwhile.
    """
    argv = [os.path.join(BIN_DIR, "ansible-playbook"), playbook, "-i", inventory_path, "--forks", str(forks)]
    if check:
        argv.append("--check")
    cpu_before, stack_before = _children_cpu_seconds(), procmem.cpu_seconds(stack_pids)
    with open(log_path, "w", encoding="utf-8") as log:
        started = time.monotonic()
        with subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT) as process:
            sampler = procmem.PeakMemorySampler(process.pid).start()
            try:
                returncode = process.wait()
            except BaseException:  # interrupted: stop the run too, then let the stack be stopped
                process.terminate()
                raise
            finally:
                wall = time.monotonic() - started
                sampler.stop()
    return {"wall_s": round(wall, 2), "rc": returncode, "peak_rss_mb": sampler.peak_rss_mb, "peak_pss_mb": sampler.peak_pss_mb,
            "controller_cpu_s": round(_children_cpu_seconds() - cpu_before, 2),
            "stack_cpu_s": round(procmem.cpu_seconds(stack_pids) - stack_before, 2),
            "load_average_before": round(os.getloadavg()[0], 2)}


def play_recap(log_path):
    """The PLAY RECAP counters summed over hosts (``{"ok": n, "changed": n, ...}``)."""
    totals = {}
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        in_recap = False
        for line in handle:
            in_recap = in_recap or line.startswith("PLAY RECAP")
            if in_recap:
                for name, value in _RECAP_RE.findall(line):
                    totals[name] = totals.get(name, 0) + int(value)
    return totals


def load_profile(path, accounts):
    """The callback's profile, with module executions and host task results (each one forked worker) per account added."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        profile = json.load(handle)
    executions = sum(task["executions"] for task in profile["tasks"])
    results = sum(task["results"] for task in profile["tasks"])
    profile.update(executions=executions, executions_per_account=round(executions / accounts, 2),
                   host_results=results, host_results_per_account=round(results / accounts, 2))
    return profile


# -- measuring --------------------------------------------------------------------------------------


class Workspace:
    """Where one invocation keeps inventories, logs and profiles."""

    def __init__(self, keep, ref):
        self.path = tempfile.mkdtemp(prefix="eks-irsa-bench-")
        self.keep = keep
        self.failures = []
        self.collections = snapshot_collection(os.path.join(self.path, "collections"), ref)

    def file(self, *parts):
        return os.path.join(self.path, "-".join(str(part) for part in parts))

    def close(self):
        if self.keep or self.failures:
            print(f"work files kept in {self.path}" + (f" (failed runs: {', '.join(self.failures)})" if self.failures else ""))
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def measure(stack, work, run, accounts, forks):
    """One timed run (``run``: n, rep, tool, scenario, inventory) with its calls, memory, recap and profile."""
    name = f"n{run['n']}-r{run['rep']}-{run['tool']}-{run['scenario']}"
    log_path, profile_path, tmp_dir = work.file(name, "log.txt"), work.file(name, "profile.json"), work.file(name, "tmp")
    os.makedirs(tmp_dir)
    reset_requests(stack)
    stack_pids = [process.pid for process in stack._processes]  # pylint: disable=protected-access
    env = playbook_env(stack, profile_path, work.collections, tmp_dir)
    outcome = run_playbook(PLAYBOOKS[run["tool"]], run["inventory"], env, forks, run["scenario"] == "check", log_path, stack_pids)
    if outcome["rc"] != 0:
        work.failures.append(log_path)
    service_accounts = len(accounts) * inventory.ROLES_PER_ACCOUNT
    measurement = {key: run[key] for key in ("n", "rep", "tool", "scenario")}
    measurement.update(outcome)
    measurement.update(
        recap=play_recap(log_path),
        aws=calls.summarise_aws(stack.aws_requests(), accounts, inventory.ROLES_PER_ACCOUNT),
        kube=calls.summarise_kube(stack.kube_requests(), service_accounts),
        profile=load_profile(profile_path, len(accounts)),
    )
    print(f"  {name}: {outcome['wall_s']:.1f} s (CPU {outcome['controller_cpu_s']:.1f} s + stack {outcome['stack_cpu_s']:.1f} s), "
          f"rc {outcome['rc']}, AWS {measurement['aws']['reads']} reads "
          f"{measurement['aws']['mutating']} writes, K8s {measurement['kube']['reads']} reads {measurement['kube']['mutating']} writes, "
          f"peak {outcome['peak_rss_mb']} MB", flush=True)
    return measurement


def run_repetition(n, rep, tools, forks, work, managed_policies=True, clusters=1, organization=False):
    """A fresh stack; every tool's check, converge and no-op on its own warmed accounts; the end-state comparison.

    The tools take turns scenario by scenario (and who goes first alternates by repetition), so that the
    two runs compared in a ratio are as close in time, and in machine load, as they can be.
    """
    order = tools if rep % 2 == 0 else list(reversed(tools))  # alternate who goes first, so drift cancels out
    accounts = {tool: inventory.account_ids(TOOL_INDEX[tool], n) for tool in tools}
    namespaces = {tool: f"bench-{tool}" for tool in tools}
    measurements = []
    with LocalStack(work.file(f"n{n}-r{rep}", "stack"), managed_policies=managed_policies) as stack:
        if organization:
            accounts["ours"] = create_organization(stack, n)
        warm_s = warm_accounts(stack, [account for tool in tools for account in accounts[tool]])
        print(f"N={n} repetition {rep + 1}: stack up, {len(tools) * n} accounts warmed in {warm_s:.1f} s", flush=True)
        inventories = {}
        second = stack.add_cluster("bench-green", SECOND_CLUSTER_REGION) if clusters > 1 else None
        for tool in order:
            create_namespace(stack.kube_url, namespaces[tool])
            if second:
                create_namespace(second["kube_url"], namespaces[tool])
            if organization:
                inventories[tool] = inventory.write_organization_inventory(
                    work.file(f"n{n}-r{rep}-{tool}-inventory"), f"arn:aws:iam::{ORGANIZATION_MANAGEMENT}:role/organization-reader",
                    stack.cluster_name, stack.region, namespaces[tool], managed_policies, second=second)
            else:
                inventories[tool] = inventory.write_inventory(work.file(f"n{n}-r{rep}-{tool}", "inventory.yml"), accounts[tool],
                                                              stack.cluster_name, stack.region, namespaces[tool], managed_policies,
                                                              second=second)
        for scenario in SCENARIOS:
            for tool in order:
                run = {"n": n, "rep": rep, "tool": tool, "scenario": scenario, "inventory": inventories[tool]}
                measurements.append(measure(stack, work, run, accounts[tool], forks))
        same = None
        converged = [m["tool"] for m in measurements if m["scenario"] == "converge" and m["rc"] == 0]
        if sorted(converged) == sorted(PLAYBOOKS):
            same = endstate.compare(stack, (accounts["ours"][-1], namespaces["ours"]), (accounts["baseline"][-1], namespaces["baseline"]))
            print(f"  end state ours vs baseline: {'same' if same['equal'] else 'DIFFERENT: ' + '; '.join(same['differences'])}")
    return measurements, {"n": n, "rep": rep, "warm_up_s": round(warm_s, 1), "order": order, "end_state": same}


# -- the whole invocation ---------------------------------------------------------------------------


def _git(*args):
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def environment(args, work):
    """What the numbers were measured on and with."""
    ansible_version = subprocess.run([os.path.join(BIN_DIR, "ansible-playbook"), "--version"], capture_output=True, text=True,
                                     check=False).stdout.split("\n", 1)[0]
    dirty = _git("status", "--porcelain", "--", *COLLECTION_CONTENT) if args.ref == "worktree" else None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmark.run " + " ".join(sys.argv[1:]),
        "machine": {"nproc": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "ansible": ansible_version, "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "commit": _git("rev-parse", "--short", "HEAD" if args.ref == "worktree" or os.path.isdir(args.ref) else args.ref),
        "collection": {"worktree": "the working tree"}.get(args.ref, f"commit {args.ref}" if not os.path.isdir(args.ref)
                                                           else f"the snapshot {args.ref}"),
        "uncommitted_collection_changes": dirty.splitlines() if dirty else [],
        "collection_fingerprint": fingerprint(os.path.join(work.collections, "ansible_collections", "torque", "eks_irsa")),
        "forks": args.forks,
        "repeat": args.repeat,
        "repeat_at": args.repeat_at,
        "warm_up": "every account warmed before timing (one IAM ListPolicies per account: moto loads AWS managed policies then)",
        "cluster_account": CLUSTER_ACCOUNT,
        "roles_per_account": inventory.ROLES_PER_ACCOUNT,
        "managed_policies": args.managed_policies,
        "clusters": args.clusters,
        "organization": args.organization,
    }


def save(args, meta, previous, measurements, repetitions):
    """Write the results measured so far (after every repetition, so a long run that is stopped keeps them)."""
    meta["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results = report.build(meta, measurements, repetitions)
    if previous:
        results = report.merge(previous, results)
    paths = report.write(args.out, results, args.name)
    return results, paths + ((report.publish(results),) if args.publish else ())


def _exit_on_sigterm(signum, _frame):
    """End on SIGTERM as on Ctrl-C: the running playbook and the stack are stopped (background jobs ignore SIGINT)."""
    print(f"stopped by signal {signum}; results so far are in the results folder", flush=True)
    sys.exit(128 + signum)


def main(argv=None):
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args(argv)
    previous = report.load(args.out, args.name) if args.merge else None
    work = Workspace(args.keep_work, args.ref)
    meta = environment(args, work)
    meta["plan"] = [{"n": n, "repetitions": reps, "playbooks": tools} for n, reps, tools in plan(args)]
    measurements, repetitions = [], []
    try:
        for n, reps, tools in plan(args):
            for rep in range(reps):
                runs, info = run_repetition(n, rep, tools, args.forks, work, args.managed_policies == "aws", args.clusters,
                                            args.organization)
                measurements.extend(runs)
                repetitions.append(info)
                results, paths = save(args, meta, previous, measurements, repetitions)
    finally:
        work.close()
    print(f"wrote {', '.join(paths)}")
    print(report.summary_table(results))
    return 1 if any(m["rc"] != 0 for m in measurements) else 0


if __name__ == "__main__":
    sys.exit(main())
