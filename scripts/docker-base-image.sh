#!/usr/bin/env bash
# Makes a local stand-in for node:24-bookworm-slim where registry images cannot be pulled: a minimal Debian
# bookworm root filesystem from Debian's packages (debootstrap) with Node 24 and npm from the npm registry,
# imported with `docker import`. Prints the image's name on stdout; the Dockerfile takes it as BASE_IMAGE.
#
# The tag is keyed by the Node and npm versions (and this script's hash), so a second run with the same
# versions reuses the image instead of bootstrapping Debian again (~2 minutes).
#
# Usage: scripts/docker-base-image.sh [--force]
# Environment: NODE_RANGE (default 24), NPM_RANGE (default 11: the npm Node 24 ships with),
#              DEBIAN_MIRROR (default http://deb.debian.org/debian),
#              CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt): this machine's trusted certificates,
#              copied into the image when the file exists, so that `npm ci` in the build trusts what this
#              machine trusts (a TLS-inspecting egress proxy's CA, say). The real node image has none.
set -euo pipefail
cd "$(dirname "$0")/.."

node_range="${NODE_RANGE:-24}"
npm_range="${NPM_RANGE:-11}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ca_bundle="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
force="${1:-}"

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "docker-base-image: no Node distribution package for $(uname -m)" >&2; exit 1 ;;
esac

log() { echo "docker-base-image: $*" >&2; }
# `npm view pkg@range version` lists every match in no useful order: take the highest.
highest() {
  npm view "$1@$2" version --json 2>/dev/null |
    node -e 'const v=[].concat(JSON.parse(require("fs").readFileSync(0,"utf8")));
      console.log(v.sort((a,b)=>a.localeCompare(b,undefined,{numeric:true})).at(-1))'
}
node_version="$(highest "node-linux-$arch" "$node_range")"
npm_version="$(highest npm "$npm_range")"
ca_hash=none
[ -f "$ca_bundle" ] && ca_hash="$(sha256sum "$ca_bundle" | cut -c1-8)"
script_hash="$( (sha256sum <"$0"; echo "$ca_hash") | sha256sum | cut -c1-8)"
image="edgellm-base:bookworm-node${node_version}-npm${npm_version}-${script_hash}"

if [ "$force" != "--force" ] && docker image inspect "$image" >/dev/null 2>&1; then
  log "reusing $image"
  echo "$image"
  exit 0
fi

work="$(mktemp -d /tmp/edgellm-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

log "debootstrap bookworm (minbase) from $mirror"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}
# Like the official slim images: no package lists or caches in the image (apt-get update fetches them).
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

log "node-linux-$arch@$node_version and npm@$npm_version from the npm registry"
(cd "$work" && npm pack --silent "node-linux-$arch@$node_version" "npm@$npm_version" >/dev/null)
mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work/node-linux-$arch-$node_version.tgz" -C "$work/node"
# The Node distribution's layout (bin/node, include/node for node-gyp, share/) goes under /usr/local,
# where the official image has it.
for dir in bin include share; do
  [ -d "$work/node/package/$dir" ] && cp -a "$work/node/package/$dir" "$rootfs/usr/local/"
done
tar -xzf "$work/npm-$npm_version.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
chmod 755 "$rootfs/usr/local/bin/node"
ca_env=()
if [ -f "$ca_bundle" ]; then
  mkdir -p "$rootfs/etc/ssl/certs"
  cp "$ca_bundle" "$rootfs/etc/ssl/certs/edgellm-build-ca.crt"
  ca_env=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/edgellm-build-ca.crt')
fi

log "docker import as $image"
tar -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$node_version" \
  --change 'CMD ["node"]' \
  "${ca_env[@]}" \
  - "$image" >/dev/null
docker run --rm "$image" sh -c 'node --version && npm --version' >&2
echo "$image"
