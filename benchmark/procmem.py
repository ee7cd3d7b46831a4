# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Peak memory of a process tree, and CPU time of processes, from /proc (psutil is not installed in the venv).

The controller of an ``ansible-playbook`` run is a tree: the main process, its forked workers and the
module processes they start. Every ``interval`` seconds the sampler sums, over the live tree:

- ``rss``: VmRSS of each process. Forked workers share most of their pages with the parent, so this
  counts shared pages once per process: an upper bound, and what ``ps`` users compare against;
- ``pss``: the proportional set size (``/proc/<pid>/smaps_rollup``), where shared pages are split
  between the processes sharing them: close to the memory the tree really holds.

Peaks of both are kept. A process that lives shorter than the interval can be missed.
"""

import os
import threading


def _children_by_parent():
    """``{ppid: [pid, ...]}`` for every process visible in /proc."""
    children = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: the ppid is the 2nd field after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(root):
    """PIDs of ``root`` and all its descendants."""
    children = _children_by_parent()
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, ()))
    return tree


def cpu_seconds(pids):
    """User + system CPU seconds used so far by the live processes ``pids`` (their children not included)."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def _field_kb(path, field):
    """A ``<field>: <n> kB`` value from a /proc file, 0 when the process is gone."""
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_memory_kb(root):
    """``(rss, pss)`` in kB summed over the process tree of ``root``."""
    pids = process_tree(root)
    rss = sum(_field_kb(f"/proc/{pid}/status", "VmRSS:") for pid in pids)
    pss = sum(_field_kb(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in pids)
    return rss, pss


class PeakMemorySampler:
    """Samples the tree of ``pid`` in a thread until :meth:`stop`; ``peak_rss_mb`` / ``peak_pss_mb`` hold the peaks."""

    def __init__(self, pid, interval=0.15):
        self.pid = pid
        self.interval = interval
        self.peak_rss_kb = self.peak_pss_kb = 0
        self.samples = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stopped.set()
        self._thread.join()

    def _run(self):
        while not self._stopped.is_set():
            rss, pss = tree_memory_kb(self.pid)
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.samples += 1
            self._stopped.wait(self.interval)

    @property
    def peak_rss_mb(self):
        return round(self.peak_rss_kb / 1024, 1)

    @property
    def peak_pss_mb(self):
        return round(self.peak_pss_kb / 1024, 1)
