#!/usr/bin/env bash
# Create .venv with the pinned tools and make the collections resolvable from it:
#   - amazon.aws and kubernetes.core are extracted from the PyPI wheel ansible==$ANSIBLE_BUNDLE
#     (Ansible Galaxy is not reachable; the whole bundle would cost ~470 MB, these two ~6 MB);
#   - this repository is linked in as ansible_collections/torque/eks_irsa.
# All three live in the venv's site-packages/ansible_collections, which Ansible searches by default,
# so ansible-playbook, ansible-doc and pytest find them with no extra configuration.
# Each step is skipped when its inputs did not change, so a re-run takes seconds.
set -euo pipefail

ANSIBLE_BUNDLE=12.3.0
DEPENDENCIES=(amazon/aws kubernetes/core)
PYTHON=${PYTHON:-python3.11}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$root/.venv
cache=$root/.build/cache
mkdir -p "$cache"

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
# pip, minus this machine's notes about local mirror folders that do not exist.
pip() { "$venv/bin/python" -m pip --quiet --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }

requirements_hash=$(cat "$root/requirements-test.txt" "$root/constraints.txt" | sha256sum | cut -c1-16)
if [[ ! -x $venv/bin/python || "$(cat "$venv/.requirements" 2>/dev/null)" != "$requirements_hash" ]]; then
    step "creating .venv with pinned tools (first run takes about a minute)"
    "$PYTHON" -m venv "$venv"
    pip install -r "$root/requirements-test.txt" -c "$root/constraints.txt"
    echo "$requirements_hash" > "$venv/.requirements"
fi

site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
collections=$site/ansible_collections
if [[ "$(cat "$collections/.bundle" 2>/dev/null)" != "$ANSIBLE_BUNDLE" ]]; then
    step "extracting ${DEPENDENCIES[*]} from ansible==$ANSIBLE_BUNDLE"
    wheel=$(ls "$cache"/ansible-"$ANSIBLE_BUNDLE"-py3-none-any.whl 2>/dev/null || true)
    if [[ -z $wheel ]]; then
        pip download --no-deps -d "$cache" "ansible==$ANSIBLE_BUNDLE"
        wheel=$cache/ansible-$ANSIBLE_BUNDLE-py3-none-any.whl
    fi
    for dep in "${DEPENDENCIES[@]}"; do rm -rf "${collections:?}/$dep"; done
    "$venv/bin/python" - "$wheel" "$site" "${DEPENDENCIES[@]}" <<'PY'
import sys
import zipfile

wheel, target, deps = sys.argv[1], sys.argv[2], sys.argv[3:]
prefixes = tuple(f"ansible_collections/{dep}/" for dep in deps)
with zipfile.ZipFile(wheel) as bundle:
    members = [name for name in bundle.namelist() if name.startswith(prefixes)]
    bundle.extractall(target, members)
print(f"    {len(members)} files")
PY
    echo "$ANSIBLE_BUNDLE" > "$collections/.bundle"
fi

mkdir -p "$collections/torque"
if [[ "$(readlink "$collections/torque/eks_irsa" 2>/dev/null)" != "$root" ]]; then
    step "linking this repository as torque.eks_irsa"
    ln -sfn "$root" "$collections/torque/eks_irsa"
fi

# ansible-test downloads a pip bootstrap script before it builds its sanity venvs; offline that
# fails. This stand-in bootstraps pip with ensurepip in a subprocess (in-process ensurepip would
# drop the machine's pip configuration, such as its CA bundle) and then runs pip as asked.
test_home=$root/.build/home
getpip_dir=$test_home/.ansible/test/cache
mkdir -p "$getpip_dir"
pip_version=$("$venv/bin/python" - <<'PY'
import re
from ansible_test._internal import python_requirements
print(re.search(r"pip='([0-9.]+)'", open(python_requirements.__file__).read()).group(1))
PY
)
cp "$root/tools/get_pip_standin.py" "$getpip_dir/get_pip_${pip_version//./_}.py"

version=$("$venv/bin/ansible" --version)
step "ready: ${version%%$'\n'*}"
