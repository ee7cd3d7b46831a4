#!/usr/bin/env bash
# ansible-test sanity needs the collection at ansible_collections/<ns>/<name> with its dependencies in
# the same tree (validate-modules resolves amazon.aws doc fragments there), so we test a fresh copy of
# the repository's files under .build/sanity. HOME points into .build so that ansible-test's caches
# (including the offline pip bootstrap stand-in set up by tools/setup.sh) are the same on every machine.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$root/.venv
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
tree=$root/.build/sanity/ansible_collections
copy=$tree/torque/eks_irsa

rm -rf "$copy"
mkdir -p "$copy" "$tree/amazon" "$tree/kubernetes"
ln -sfn "$site/ansible_collections/amazon/aws" "$tree/amazon/aws"
ln -sfn "$site/ansible_collections/kubernetes/core" "$tree/kubernetes/core"
# Tracked files plus new ones not yet committed (less those deleted but not yet committed), never ignored artefacts.
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}" || true') |
    (cd "$root" && xargs -0 cp --parents -t "$copy")

cd "$copy"
# The copy lies inside this repository's ignored .build folder; its own (empty) git repository makes
# ansible-test list the copied files instead of asking the outer repository, which ignores them all.
git init --quiet .
export HOME=$root/.build/home PATH=$venv/bin:$PATH
# ansible-test installs each sanity test's requirements into its own venv and prints every pip line;
# keep the test results readable by dropping that chatter (errors still pass through).
set +e +o pipefail
ansible-test sanity --python 3.11 --color no "$@" 2>&1 |
    grep --line-buffered -vE '^ *(Collecting|Downloading|Installing|Successfully|Processing|Looking in links|Attempting uninstall|Found existing installation|Uninstalling|Requirement already satisfied|━)'
status=${PIPESTATUS[0]}
exit "$status"
