#!/bin/sh
# A stand-in for the official python:3.11-slim image, made from Debian's own packages, for a
# machine that can reach a Debian mirror but no container registry.  As root:
#
#   deploy/podman/make-base-image.sh [IMAGE]       # IMAGE: docker.io/library/python:3.11-slim
#
# debootstrap's minimal Debian bookworm (whose Python is 3.11), plus what deploy/Dockerfile
# relies on in the official image: `python` and `pip` commands, venv, the C headers, CA
# certificates, UTF-8 locale.  What differs from the official image: deploy/README.md.
# MIRROR overrides the Debian mirror, by default the first one apt uses here.
set -eu

IMAGE=${1:-docker.io/library/python:3.11-slim}
SUITE=bookworm
if [ -z "${MIRROR:-}" ]; then
    MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | sed -n -e 's/^URIs: *\([^ ]*\).*/\1/p' -e 's/^deb  *\(\[[^]]*\]  *\)\{0,1\}\([^ ]*\) .*/\2/p' \
        | grep -v -e security -e '^https\{0,1\}://[^/]*/debian-' | grep '/debian/\{0,1\}$' | head -n 1)
fi
: "${MIRROR:?no Debian mirror found in /etc/apt/sources*; set MIRROR=http://deb.debian.org/debian}"
MIRROR=${MIRROR%/}
for tool in debootstrap buildah; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/var/tmp}/python-slim.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
rootfs=$work/rootfs

# python-is-python3: the `python` command; netbase, tzdata and ca-certificates: what the
# official slim image installs on top of debian:bookworm-slim.
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates,netbase,tzdata \
    "$SUITE" "$rootfs" "$MIRROR"

# The certificate authorities this machine adds to Debian's (update-ca-certificates reads them
# from /usr/local/share/ca-certificates): a build behind a TLS-inspecting proxy reaches PyPI
# only if the image trusts the proxy's CA too.  LOCAL_CA_DIR= (empty) leaves them out.
LOCAL_CA_DIR=${LOCAL_CA_DIR-/usr/local/share/ca-certificates}
if [ -n "$LOCAL_CA_DIR" ] && ls "$LOCAL_CA_DIR"/*.crt >/dev/null 2>&1; then
    cp "$LOCAL_CA_DIR"/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates
fi

# apt inside the image: the same mirror, with the updates and security suites the official
# image's debian:bookworm-slim lists.
security=$(printf '%s' "$MIRROR" | sed 's#/debian$#/debian-security#')
cat >"$rootfs/etc/apt/sources.list" <<LIST
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $security $SUITE-security main
LIST
# Security and point-release updates, as in the official image.  Then Python's C headers: the
# official image has them (a compiler installed on top builds C extensions) but not the
# libc6-dev and friends that Debian's python3-dev depends on, so they are unpacked, not
# installed; a compiler installed later brings those dependencies itself.
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
chroot "$rootfs" sh -euc '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get upgrade -q -y
    cd /tmp
    apt-get download -q "python3.11-dev=$(dpkg-query -W -f="\${Version}" python3.11)" \
        "libpython3.11-dev=$(dpkg-query -W -f="\${Version}" python3.11)"
    for deb in *.deb; do dpkg-deb -x "$deb" /; done
    rm -f ./*.deb'
: >"$rootfs/etc/resolv.conf"   # the container runtime provides its own

# The official image's pip installs anywhere; Debian's refuses outside a venv (PEP 668).
rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
# Like debian:bookworm-slim: dpkg leaves out documentation and translations (also of what a
# Dockerfile installs later), no apt caches, no logs of the build.  Python's static libraries
# go too: the official image has none, and nothing links Python statically.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
CFG
chroot "$rootfs" apt-get clean
find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/groff/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/lintian/overrides/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/man/* \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/* \
    "$rootfs"/tmp/* "$rootfs"/var/tmp/* "$rootfs"/usr/lib/python3*/config-*/libpython*.a
find "$rootfs/usr/lib/python3" "$rootfs"/usr/lib/python3.* -name __pycache__ -prune -exec rm -rf {} +

tar --numeric-owner --xattrs -C "$rootfs" -cf "$work/rootfs.tar" .
cat >"$work/Containerfile" <<'FILE'
FROM scratch
ADD rootfs.tar /
ENV LANG=C.UTF-8
CMD ["python3"]
FILE
buildah bud --isolation chroot --layers=false --tag "$IMAGE" -f "$work/Containerfile" "$work"
echo "$0: built $IMAGE"
