#!/usr/bin/env bash
# Create one cell of the test matrix: a venv of one ansible-core with the collections of one `ansible` bundle,
# the runtime requirements (requirements.txt) and pytest, as a user who runs the collection would have them.
#   tools/matrix-venv.sh NAME PYTHON ANSIBLE_CORE ANSIBLE_BUNDLE
# The venv is .build/matrix/NAME/venv; the bundle's amazon.aws and kubernetes.core go into
# .build/matrix/NAME/collections. Skipped when its inputs did not change.
set -euo pipefail
name=$1 python=$2 core=$3 bundle=$4
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cell=$root/.build/matrix/$name
cache=$root/.build/cache
venv=$cell/venv
mkdir -p "$cache" "$cell"

pip() { "$venv/bin/python" -m pip --quiet --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }

stamp="$core $bundle $(sha256sum "$root/requirements.txt" "$root/requirements-matrix.txt" | sha256sum | cut -c1-16)"
if [[ "$(cat "$cell/.stamp" 2>/dev/null)" == "$stamp" ]]; then
    exit 0
fi
printf '\033[1m==> matrix cell %s: ansible-core %s on %s, collections of ansible %s\033[0m\n' "$name" "$core" "$python" "$bundle"
rm -rf "$cell"
mkdir -p "$cell"
"$python" -m venv "$venv"
pip install "ansible-core==$core" -r "$root/requirements.txt" -r "$root/requirements-matrix.txt"

wheel=$cache/ansible-$bundle-py3-none-any.whl
[[ -f $wheel ]] || "$venv/bin/python" -m pip --quiet download --no-deps -d "$cache" "ansible==$bundle"
# Galaxy is not reachable: the wheel holds amazon.aws and kubernetes.core as installed collections (MANIFEST.json,
# FILES.json), which is what `ansible-galaxy collection install` would lay out in the collections path.
"$venv/bin/python" - "$wheel" "$cell/collections" <<'PY'
import sys
import zipfile

wheel, target = sys.argv[1], sys.argv[2]
prefixes = ("ansible_collections/amazon/aws/", "ansible_collections/kubernetes/core/")
with zipfile.ZipFile(wheel) as bundle:
    bundle.extractall(target, [n for n in bundle.namelist() if n.startswith(prefixes)])
PY
echo "$stamp" > "$cell/.stamp"
