# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Medians, ratios and targets of the benchmark's runs: the raw ``<name>.json`` and ``<name>.md`` (out of git), and the
published table ``benchmark/results/latest.md``.

The results document keeps every timed run (``runs``) and derives from them one *entry* per
(N, playbook, scenario): wall time, CPU time and peak memory are medians over the repetitions; call
counts, recap and profile come from the repetition with the median wall time (call counts are
deterministic: ``calls_stable`` says whether every repetition made the same calls).

``--merge`` adds a new invocation's runs to the ones already in the file: repetitions of the same code
(same collection fingerprint) are pooled, so a long benchmark can be run in parts; runs of other code
for the same (N, playbook) are replaced.
"""

import json
import os
import statistics

SCENARIO_TITLES = {"converge": "converge", "noop": "no-op", "check": "check"}
# Issue 6's targets, for ours at N = 100 (times) and at every N (calls).
TARGETS = {"converge_s": 120, "noop_s": 60, "check_s": 60, "reads_per_role": 4, "reads_per_provider": 2, "memory_mb": 1024}
TARGET_N = 100
# The one results file in git: the latest report, with a hand-kept history of the changes that mattered.
PUBLISHED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.md")
HISTORY_HEADING = "## History"


# -- building ---------------------------------------------------------------------------------------


def _call_signature(measurement):
    return (measurement["aws"]["by_action"], measurement["kube"]["by_call"])


def _median(runs, key, digits=2):
    values = [run[key] for run in runs if run.get(key) is not None]
    return round(statistics.median(values), digits) if values else None


def entry(runs):
    """The median entry of the repetitions ``runs`` of one (N, tool, scenario)."""
    by_wall = sorted(runs, key=lambda run: run["wall_s"])
    middle = by_wall[(len(by_wall) - 1) // 2]
    return {
        "n": middle["n"], "tool": middle["tool"], "scenario": middle["scenario"],
        "measured": sorted({run["invocation"] for run in runs}),
        "reps": len(runs),
        "wall_s": _median(runs, "wall_s"),
        "wall_s_all": [run["wall_s"] for run in runs],
        "rc_all": [run["rc"] for run in runs],
        "peak_rss_mb": _median(runs, "peak_rss_mb", 1),
        "peak_pss_mb": _median(runs, "peak_pss_mb", 1),
        "controller_cpu_s": _median(runs, "controller_cpu_s"),
        "controller_cpu_s_all": [run.get("controller_cpu_s") for run in runs],
        "stack_cpu_s": _median(runs, "stack_cpu_s"),
        "load_average_all": [run.get("load_average_before") for run in runs],
        "calls_stable": len({json.dumps(_call_signature(run), sort_keys=True) for run in runs}) == 1
        and all(run.get("calls_stable", True) for run in runs),
        "recap": middle["recap"], "aws": middle["aws"], "kube": middle["kube"], "profile": middle["profile"],
    }


def ratios(entries):
    """ours/baseline wall time and controller CPU time for every (N, scenario) both were measured at."""
    index = {(e["n"], e["tool"], e["scenario"]): e for e in entries}
    found = []
    for (n, tool, scenario), ours in sorted(index.items()):
        baseline = index.get((n, "baseline", scenario))
        if tool == "ours" and baseline:
            found.append({"n": n, "scenario": scenario, "ours_s": ours["wall_s"], "baseline_s": baseline["wall_s"],
                          "ratio": round(ours["wall_s"] / baseline["wall_s"], 2),
                          "cpu_ratio": round(ours["controller_cpu_s"] / baseline["controller_cpu_s"], 2)
                          if ours.get("controller_cpu_s") and baseline.get("controller_cpu_s") else None})
    return found


def _document(invocations, runs, repetitions):
    groups = {}
    for run in runs:
        groups.setdefault((run["n"], run["tool"], run["scenario"]), []).append(run)
    entries = [entry(group) for _key, group in sorted(groups.items())]
    used = {run["invocation"] for run in runs}
    return {"invocations": [i for i in invocations if i["date"] in used], "entries": entries, "ratios": ratios(entries),
            "repetitions": sorted(repetitions, key=lambda r: (r["n"], r["measured"], r["rep"])), "runs": runs}


def build(meta, measurements, repetitions):
    """The results document of one invocation (``measurements``: its timed runs)."""
    for run in measurements:
        run.update(invocation=meta["date"], fingerprint=meta.get("collection_fingerprint"))
    for repetition in repetitions:
        repetition["measured"] = meta["date"]
    return _document([meta], measurements, repetitions)


def merge(previous, latest):
    """``latest`` plus the runs of ``previous`` of the same code, or for (N, playbook) pairs ``latest`` did not measure."""
    if not previous:
        return latest
    fingerprint = latest["invocations"][0].get("collection_fingerprint")
    measured = {(run["n"], run["tool"]) for run in latest["runs"]}
    kept = [run for run in previous["runs"]
            if (run["n"], run["tool"]) not in measured or run.get("fingerprint") == fingerprint]
    kept_invocations = {run["invocation"] for run in kept}
    repetitions = [r for r in previous["repetitions"] if r["measured"] in kept_invocations] + latest["repetitions"]
    invocations = [i for i in previous["invocations"] if i["date"] != latest["invocations"][0]["date"]] + latest["invocations"]
    return _document(invocations, kept + latest["runs"], repetitions)


# -- files ------------------------------------------------------------------------------------------


def load(folder, name="latest"):
    path = os.path.join(folder, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _write_atomically(path, text):
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)


def write(folder, results, name="latest"):
    """Write ``<name>.json`` and ``<name>.md`` into ``folder``; returns both paths."""
    os.makedirs(folder, exist_ok=True)
    json_path, md_path = os.path.join(folder, f"{name}.json"), os.path.join(folder, f"{name}.md")
    _write_atomically(json_path, json.dumps(results, indent=1, sort_keys=True) + "\n")
    _write_atomically(md_path, markdown(results))
    return json_path, md_path


def history(text):
    """The history section of a published ``latest.md`` (its heading up to the next section), or None."""
    start = text.find("\n" + HISTORY_HEADING + "\n")
    if start < 0:
        return None
    end = text.find("\n## ", start + 1)
    return text[start + 1:end if end >= 0 else len(text)].strip()


def publish(results, path=PUBLISHED):
    """Rewrite the published ``latest.md`` with ``results``, keeping its history section as it is; returns the path.

    The history is kept by hand: a row per change whose before and after matter, naming the commit or issue.
    """
    kept = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            kept = history(handle.read())
    _write_atomically(path, markdown(results, kept))
    return path


# -- Markdown ---------------------------------------------------------------------------------------


def _index(results):
    return {(e["n"], e["tool"], e["scenario"]): e for e in results["entries"]}


def _seconds(found):
    if not found:
        return "–"
    failed = "" if all(rc == 0 for rc in found["rc_all"]) else " (failed)"
    return f"{found['wall_s']:.1f}{failed}"


def _aws_per_account(found):
    return f"{found['aws']['per_account']['reads']:g} / {found['aws']['per_account']['mutating']:g}" if found else "–"


def _kube(found):
    return f"{found['kube']['reads']} / {found['kube']['mutating']}" if found else "–"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def _cpu(runs):
    return " / ".join(f"{r['controller_cpu_s']:.0f}" if r and "controller_cpu_s" in r else "–" for r in runs)


def summary_table(results):
    """N, times, CPU, AWS calls per account, Kubernetes calls, peak memory: ours, baseline and their ratios."""
    index = _index(results)
    ratio = {(r["n"], r["scenario"]): r for r in results["ratios"]}
    rows = []
    for n in sorted({e["n"] for e in results["entries"]}):
        for tool in ("ours", "baseline"):
            runs = [index.get((n, tool, s)) for s in ("converge", "noop", "check")]
            if not any(runs):
                continue
            converge, noop, check = runs
            memory = max((r["peak_rss_mb"] for r in runs if r), default=0)
            pss = max((r["peak_pss_mb"] for r in runs if r), default=0)
            rows.append([n, tool, _seconds(converge), _seconds(noop), _seconds(check), _cpu(runs), _aws_per_account(converge),
                         _aws_per_account(noop), _kube(converge), _kube(noop), f"{memory:.0f} / {pss:.0f}",
                         max(r["reps"] for r in runs if r)])
        pairs = [ratio.get((n, s)) for s in ("converge", "noop", "check")]
        if any(pairs):
            cpu = " / ".join(f"{p['cpu_ratio']:.2f}" if p and p.get("cpu_ratio") else "–" for p in pairs)
            rows.append([n, "**ours/baseline**"] + [f"**{p['ratio']:.2f}**" if p else "–" for p in pairs] + [f"**{cpu}**"] + [""] * 6)
    header = ["N", "playbook", "converge s", "no-op s", "check s", "controller CPU s (converge / no-op / check)",
              "AWS reads / mutating per account (converge)", "AWS reads / mutating per account (no-op)",
              "K8s reads / mutating (converge)", "K8s reads / mutating (no-op)", "peak MB (RSS / PSS)", "reps"]
    return _table(header, rows)


def _mark(ok):
    return "✅" if ok else "❌"


def targets_table(results):
    """Issue 6's targets for ours, at every N measured (the time targets are for N = 100)."""
    index = _index(results)
    rows = []
    for n in sorted({e["n"] for e in results["entries"] if e["tool"] == "ours"}):
        converge, noop, check = (index.get((n, "ours", s)) for s in ("converge", "noop", "check"))
        if not (converge and noop and check):
            continue
        timed = n == TARGET_N

        def time_cell(found, limit, timed=timed):
            return f"{found['wall_s']:.1f} s {_mark(found['wall_s'] <= limit) if timed else ''}".strip()

        memory = max(converge["peak_rss_mb"], noop["peak_rss_mb"], check["peak_rss_mb"])
        held = max(converge["peak_pss_mb"], noop["peak_pss_mb"], check["peak_pss_mb"])
        rows.append([
            n, time_cell(converge, TARGETS["converge_s"]), time_cell(noop, TARGETS["noop_s"]), time_cell(check, TARGETS["check_s"]),
            f"{noop['aws']['mutating']} {_mark(noop['aws']['mutating'] == 0)}",
            f"{noop['kube']['mutating']} {_mark(noop['kube']['mutating'] == 0)}",
            f"{noop['aws']['per_role']['reads']:g} {_mark(noop['aws']['per_role']['reads'] <= TARGETS['reads_per_role'])}",
            f"{noop['aws']['per_provider']['reads']:g} {_mark(noop['aws']['per_provider']['reads'] <= TARGETS['reads_per_provider'])}",
            f"{noop['aws']['issuer_reads']} {_mark(noop['aws']['issuer_reads'] == 1)}",
            f"{memory:.0f} / {held:.0f} MB {_mark(held < TARGETS['memory_mb'])}",
            f"{converge['aws']['per_account']['reads_min']}–{converge['aws']['per_account']['reads_max']}",
        ])
    header = ["N", "converge (≤120 s at N=100)", "no-op (≤60 s)", "check (≤60 s)", "no-op AWS writes (0)", "no-op K8s writes (0)",
              "no-op AWS reads per role (≤4)", "no-op AWS reads per provider (≤2)", "issuer reads (1)", "peak RSS / PSS (PSS < 1 GiB)",
              "converge AWS reads per account, min–max"]
    return _table(header, rows)


def calls_table(results):
    """Every entry's calls: AWS per bucket and per resource, Kubernetes reads / writes / dry-runs."""
    rows = []
    for found in results["entries"]:
        aws, kube = found["aws"], found["kube"]
        rows.append([
            found["n"], found["tool"], SCENARIO_TITLES[found["scenario"]], aws["reads"], aws["mutating"], aws["sts"], aws["issuer_reads"],
            f"{aws['per_role']['reads']:g} / {aws['per_role']['mutating']:g}",
            f"{aws['per_provider']['reads']:g} / {aws['per_provider']['mutating']:g}",
            f"{aws['per_account']['reads']:g} / {aws['per_account']['mutating']:g}",
            kube["reads"], kube["mutating"], kube["dry_run"],
            found["recap"].get("changed", "–"), found["recap"].get("failed", "–"),
            "yes" if found["calls_stable"] else "no",
        ])
    header = ["N", "playbook", "run", "AWS reads", "AWS mutating", "STS", "issuer reads", "per role r / m", "per provider r / m",
              "per account r / m", "K8s reads", "K8s mutating", "K8s dry-run", "changed", "failed", "same calls every rep"]
    return _table(header, rows)


def executions_table(results):
    """Module executions and host task results per account, wall time per account and how it splits."""
    rows = []
    for found in results["entries"]:
        profile = found.get("profile") or {}
        split = time_split(found)
        rows.append([found["n"], found["tool"], SCENARIO_TITLES[found["scenario"]], profile.get("executions", "–"),
                     profile.get("executions_per_account", "–"), profile.get("host_results_per_account", "–"), split["tasks"],
                     f"{found['wall_s']:.1f}", f"{found['wall_s'] / found['n']:.2f}", split["startup_s"], split["module_tasks_s"],
                     split["controller_tasks_s"]])
    header = ["N", "playbook", "run", "module executions", "per account", "host task results per account", "tasks started",
              "wall s", "wall s per account", "start-up s", "module tasks s", "controller-only tasks s"]
    return _table(header, rows)


def _short_task(task):
    """The task name without the ``<role> : `` prefix Ansible puts on role tasks (the role has its own column)."""
    name = task["task"].split(" : ", 1)[-1]
    return name if len(name) <= 70 else name[:69] + "…"


def time_split(found):
    """Where one run's wall time went: start-up, controller-only tasks, module tasks (from the profile)."""
    profile = found.get("profile") or {}
    tasks = profile.get("tasks", [])
    module_s = sum(t["wall_s"] for t in tasks if t["executions"])
    controller_s = sum(t["wall_s"] for t in tasks if not t["executions"])
    startup_s = found["wall_s"] - profile.get("run_s", found["wall_s"])
    return {"startup_s": round(startup_s, 1), "module_tasks_s": round(module_s, 1), "controller_tasks_s": round(controller_s, 1),
            "tasks": len(tasks)}


def profile_table(found, top=15):
    """The tasks of one entry that took the most wall time, after a line saying how the run's time splits."""
    split = time_split(found)
    intro = (f"Wall {found['wall_s']:.1f} s = start-up before the first play {split['startup_s']} s + tasks that run modules "
             f"{split['module_tasks_s']} s + controller-only tasks (set_fact, include_role, argument checks, …) "
             f"{split['controller_tasks_s']} s. A task's wall time runs from its start to the next task's start, "
             "so it includes the strategy's work (templating, includes) for that task on every host.")
    tasks = (found.get("profile") or {}).get("tasks", [])
    plays = {task.get("play_index", 0): task["play"] for task in tasks}
    legend = "Plays: " + "; ".join(f"{index}. {name}" for index, name in sorted(plays.items())) + "."
    rows = []
    for task in tasks[:top]:
        rows.append([task.get("play_index", "–"), (task["role"] or "–").rsplit(".", 1)[-1], _short_task(task), task["action"].rsplit(".", 1)[-1],
                     f"{task['wall_s']:.1f}", f"{task['host_s']:.1f}", task["executions"], f"{task['executions'] / found['n']:g}"])
    header = ["play", "role", "task", "action", "wall s", "host s (summed)", "module executions", "per account"]
    return intro + " " + legend + "\n\n" + _table(header, rows)


def _measured_by(results, invocation):
    """``N=20: 2 repetitions of ours and baseline; ...`` for the runs one invocation contributed."""
    reps = {}
    for run in results["runs"]:
        if run["invocation"] == invocation and run["scenario"] == "converge":
            reps.setdefault(run["n"], {}).setdefault(run["tool"], 0)
            reps[run["n"]][run["tool"]] += 1
    return "; ".join(f"N={n}: " + ", ".join(f"{count} × {tool}" for tool, count in sorted(tools.items()))
                     for n, tools in sorted(reps.items()))


def _notes(results):
    lines = []
    for meta in results["invocations"]:
        machine = meta["machine"]
        lines.append(f"- Measured {meta['date']} by `{meta['command']}`: the collection of {meta.get('collection', 'the working tree')} "
                     f"({meta['commit']}, content fingerprint {meta.get('collection_fingerprint')})"
                     + (f" with uncommitted collection changes ({len(meta['uncommitted_collection_changes'])} files)"
                        if meta["uncommitted_collection_changes"] else "") + ".")
        lines.append(f"  Machine: {machine['nproc']} CPUs, {machine['platform']}, Python {machine['python']}, {machine['ansible']}; "
                     f"load average {machine['load_average_at_start']} at start, {meta.get('load_average_at_end')} at end. "
                     f"forks={meta['forks']}. Repetitions kept from it: {_measured_by(results, meta['date'])}."
                     + (" The roles attach no AWS managed policy and moto loads none (--managed-policies none)."
                        if meta.get("managed_policies") == "none" else ""))
    lines.append(f"- Warm-up: {results['invocations'][-1]['warm_up']}. Warm-up times per repetition: "
                 + ", ".join(f"N={r['n']}: {r['warm_up_s']} s" for r in results["repetitions"]) + ".")
    compared = [r for r in results["repetitions"] if r.get("end_state")]
    if compared:
        different = [r for r in compared if not r["end_state"]["equal"]]
        lines.append(f"- End state: ours and the baseline compared on one account in each of {len(compared)} repetitions: "
                     + ("identical (providers, roles, trust without Sids, policies, tags, ServiceAccount annotations)." if not different
                        else f"DIFFERENT in {len(different)}: " + "; ".join(different[0]["end_state"]["differences"][:5])))
    return "\n".join(lines)


def markdown(results, history_section=None):
    """The whole report; ``history_section`` (Markdown, its heading included) goes after the summary."""
    index = _index(results)
    largest = max((e["n"] for e in results["entries"] if e["tool"] == "ours"), default=None)
    sections = [
        "# Rollout benchmark: latest results",
        "Generated by `.venv/bin/python -m benchmark.run` (see [benchmark/README.md](../README.md)). Medians over the repetitions; "
        "times in seconds of wall clock for the whole `ansible-playbook` run; **ours/baseline < 1 means ours is faster**.",
        "## Summary\n\n" + summary_table(results),
        "Controller CPU: user + system seconds of the ansible-playbook process tree, less sensitive than wall time to other "
        "load on the machine. AWS calls exclude STS (counted apart below); per account = calls in the target accounts / N. "
        "K8s mutating excludes check-mode dry-runs. Peak MB: the controller process tree (ansible-playbook, workers, "
        "module processes), RSS summed (counts shared pages per process) / PSS (shared pages split).",
        *([history_section] if history_section else []),
        f"## Issue 6 targets (ours)\n\n{targets_table(results)}",
        "Time targets apply at N = 100 (marked only there). Memory is marked on PSS: summed RSS counts the pages every "
        "forked worker shares with the controller once per worker, and grows with forks, not with N.",
        "## Calls in detail\n\n" + calls_table(results),
        "## Module executions and where the time goes\n\n" + executions_table(results) + "\n\n"
        "A module execution is one module process forked on the controller (per host, per loop item). A host task result "
        "is one task on one host, run by a forked worker even when the action stays in the controller (set_fact, assert, "
        "include_role, argument checks) or is skipped: with `connection: local` both compete for the same cores.",
    ]
    for tool, scenarios in (("ours", ("converge", "noop", "check")), ("baseline", ("converge", "noop"))):
        for scenario in scenarios:
            found = index.get((largest, tool, scenario)) if largest else None
            if found and found.get("profile"):
                sections.append(f"## Where the time goes: {tool}, {SCENARIO_TITLES[scenario]}, N={largest}\n\n{profile_table(found)}")
    sections.append("## Notes\n\n" + _notes(results))
    return "\n\n".join(sections) + "\n"
