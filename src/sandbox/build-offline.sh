#!/bin/sh
# The sandbox's root file system, built without a container registry: a minimal Debian bookworm
# with CPython 3.11 and pytest 7.2 from Debian's own packages (the same versions the Dockerfile
# pins), and nothing else: tools are stdlib-only, so the image carries no other Python package.
#
# Usage: build-offline.sh OUT.tar.gz    (needs root and debootstrap; writes OUT atomically)
# Env:   TOOLSMITH_DEBIAN_MIRROR        (default http://deb.debian.org/debian)
#
# Toolsmith embeds this file and hashes it into the image tag: editing it makes a new image.
set -eu

out="$1"
suite=bookworm
mirror="${TOOLSMITH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ "$(id -u)" != 0 ]; then
  echo "debootstrap needs root: run this build as root (e.g. sudo toolsmith sandbox build --offline)" >&2
  exit 2
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "debootstrap is not installed: apt-get install -y debootstrap (scripts/setup.sh does it)" >&2
  exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/toolsmith-rootfs.XXXXXX")"
part="$out.part.$$"
trap 'rm -rf "$work" "$part"' EXIT
trap 'exit 130' INT TERM
root="$work/root"

debootstrap --variant=minbase --include=python3,python3-pytest "$suite" "$root" "$mirror" >&2

# Debian's pytest drags in packages that pytest 7.2 on Python 3.11 never imports. Purge them so that
# the image holds what `pip install pytest==7.2.1` would: attrs, iniconfig, packaging, pluggy.
# A tool must not pass here by importing a package the WASM runtime does not have.
chroot "$root" dpkg --purge --force-depends python3-py python3-exceptiongroup python3-tomli \
  python3-more-itertools python3-importlib-metadata python3-zipp python3-typing-extensions \
  python3-pkg-resources >&2
chroot "$root" python3 -c 'import pytest' >&2

# What a test run never reads: package caches and lists, documentation, translations. The
# compiled stdlib (__pycache__) stays: the root file system is read-only at run time, so
# nothing could be cached there later, and each run would recompile what it imports.
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*

# Docker provides /dev, /proc and /sys at run time: leave their contents out.
tar --numeric-owner --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* \
  -C "$root" -czf "$part" .
mv "$part" "$out"
