#!/usr/bin/env bash
# Refresh the vendored browser assets in service/static/vendor from the pinned npm packages.
#
# Run this only to change a version: the copied files are committed, so neither set-up nor CI needs
# npm or a network. It installs package-lock.json exactly (npm ci, no install scripts) into a
# temporary folder, copies the files netkort's pages and folium maps load, each package's licence,
# and writes VERSIONS.txt naming package@version, the lock's integrity hash and every copied file.
#
#   scripts/vendor-assets.sh            # refresh service/static/vendor
#   VENDOR_DIR=/tmp/v scripts/vendor-assets.sh   # write elsewhere (e.g. to diff against the tree)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${VENDOR_DIR:-$root/service/static/vendor}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v npm >/dev/null || { echo "vendor-assets: npm is needed (apt-get install npm)" >&2; exit 2; }

cp "$root/package.json" "$root/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
nm="$work/node_modules"

rm -rf "$dest"
mkdir -p "$dest"
files=()

# copy PACKAGE SRC DST: one file from node_modules/PACKAGE/SRC to $dest/DST.
copy() {
  mkdir -p "$(dirname "$dest/$3")"
  cp "$nm/$1/$2" "$dest/$3"
  files+=("$3 <- $1/$2")
}

# copy_dir PACKAGE SRC DST: every file of a folder (fonts, marker images).
copy_dir() {
  local f
  for f in $(cd "$nm/$1/$2" && ls); do copy "$1" "$2/$f" "$3/$f"; done
}

copy leaflet dist/leaflet.js leaflet/leaflet.js
copy leaflet dist/leaflet.css leaflet/leaflet.css
copy_dir leaflet dist/images leaflet/images
copy leaflet LICENSE leaflet/LICENSE

copy jquery dist/jquery.min.js jquery/jquery.min.js
copy jquery LICENSE.txt jquery/LICENSE.txt

copy bootstrap dist/js/bootstrap.bundle.min.js bootstrap/js/bootstrap.bundle.min.js
copy bootstrap dist/css/bootstrap.min.css bootstrap/css/bootstrap.min.css
copy bootstrap LICENSE bootstrap/LICENSE

copy @fortawesome/fontawesome-free css/all.min.css fontawesome-free/css/all.min.css
copy_dir @fortawesome/fontawesome-free webfonts fontawesome-free/webfonts
copy @fortawesome/fontawesome-free LICENSE.txt fontawesome-free/LICENSE.txt

copy leaflet.awesome-markers dist/leaflet.awesome-markers.js leaflet.awesome-markers/leaflet.awesome-markers.js
copy leaflet.awesome-markers dist/leaflet.awesome-markers.css leaflet.awesome-markers/leaflet.awesome-markers.css
copy_dir leaflet.awesome-markers dist/images leaflet.awesome-markers/images
copy leaflet.awesome-markers LICENSE leaflet.awesome-markers/LICENSE

# The API documentation page (/docs) without a CDN.
copy swagger-ui-dist swagger-ui-bundle.js swagger-ui/swagger-ui-bundle.js
copy swagger-ui-dist swagger-ui.css swagger-ui/swagger-ui.css
copy swagger-ui-dist LICENSE swagger-ui/LICENSE

# Minified files end with a sourceMappingURL comment naming a .map file that is not vendored;
# browsers ask for it only with developer tools open, but strip it so nothing ever 404s.
while IFS= read -r -d '' f; do
  sed -i -e 's|/\*# sourceMappingURL=[^*]*\*/||' -e 's|^//# sourceMappingURL=.*$||' "$f"
done < <(find "$dest" \( -name '*.js' -o -name '*.css' \) -print0)

{
  echo "# Browser assets vendored from npm by scripts/vendor-assets.sh; do not edit by hand."
  echo "# Source: the npm registry, exactly as pinned in package-lock.json (npm ci --ignore-scripts)."
  echo "# Licences: each package's licence file is copied beside its files."
  echo "# Changed on copy: only the trailing sourceMappingURL comments are removed (no .map files here)."
  echo
  echo "## packages (name@version license integrity)"
  node -e '
    const lock = require(process.argv[1]);
    const deps = Object.keys(lock.packages[""].dependencies).sort();
    for (const name of deps) {
      const p = lock.packages["node_modules/" + name];
      console.log(`${name}@${p.version} ${p.license} ${p.integrity}`);
    }' "$root/package-lock.json"
  echo
  echo "## files (vendored path <- package/path inside the npm package)"
  printf '%s\n' "${files[@]}"
} > "$dest/VERSIONS.txt"

echo "vendor-assets: ${#files[@]} files into $dest"
