#!/usr/bin/env bash
# Builds the ovserve image with buildah where no registry is reachable: the base is made from
# Debian packages by mmdebstrap (python3 and its venv module), then the Dockerfile runs on it
# (buildah bud, chroot isolation). Needs root, buildah and mmdebstrap (Debian packages).
#   deploy/build_image.sh [tag]      # default tag: localhost/ovserve:latest
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-localhost/ovserve:latest}"
base=localhost/ovserve-base:bookworm
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
    # local CAs of this host (a TLS-inspecting proxy's, say) go into the base, so pip trusts them too
    hooks=()
    for crt in /usr/local/share/ca-certificates/*.crt; do
        [ -e "$crt" ] && hooks+=(--customize-hook="copy-in $crt /usr/local/share/ca-certificates/")
    done
    hooks+=(--customize-hook='chroot "$1" update-ca-certificates --fresh >/dev/null')
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates "${hooks[@]}" \
        bookworm "$work/base.tar"
    ctr="$(buildah from scratch)"
    buildah add --quiet "$ctr" "$work/base.tar" /
    buildah commit --quiet "$ctr" "$base" >/dev/null
    buildah rm "$ctr" >/dev/null
fi
buildah bud --quiet --isolation=chroot --format docker --build-arg BASE_IMAGE="$base" \
    --build-arg PIP_CERT=/etc/ssl/certs/ca-certificates.crt -t "$tag" .
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$tag"
