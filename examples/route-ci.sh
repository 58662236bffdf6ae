#!/bin/sh
# Pins how IIS routes a site's URLs, for CI: `iisn route --format json` decides each URL the
# way `iisn serve` (and IIS) would, without starting node, and this script fails when an
# outcome, status or target changes. Edit the table for your own site.
#
#   examples/route-ci.sh                   checks examples/spa with `iisn` from PATH
#   IISN=target/debug/iisn examples/route-ci.sh path/to/site
#
# Needs jq. Exit 0 when every URL routes as expected, 1 when one does not, 2 on errors
# (including `iisn route` failing: exit 1 from it means the configuration has errors).
set -eu

iisn=${IISN:-iisn}
site=${1:-$(dirname "$0")/spa}

# URL                 outcome          status  target (script, file or Location; - for none)
expected='
/                     file             200     index.html
/settings/profile     file             200     index.html
/api/todos            app              200     server.js
/assets/app.js        file             200     assets/app.js
/old-home             redirect         301     http://localhost:8080/
/web.config           error            404     -
'

urls=$(printf '%s\n' "$expected" | awk 'NF { print $1 }')
# shellcheck disable=SC2086 # one argument per URL
json=$("$iisn" route "$site" $urls --format json) || exit 2

actual=$(printf '%s\n' "$json" | jq -r '
  [ .url, .outcome, (.status // "-" | tostring),
    (.app.script // .file // .location // "-") ] | join(" ")')
want=$(printf '%s\n' "$expected" | awk 'NF { print $1, $2, $3, $4 }')

if [ "$actual" = "$want" ]; then
  echo "routing of $site is as expected ($(printf '%s\n' "$want" | wc -l | tr -d ' ') URLs)"
  exit 0
fi
echo "routing of $site changed (- expected, + actual):" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s\n' "$want" > "$tmp/expected"
printf '%s\n' "$actual" > "$tmp/actual"
diff -u "$tmp/expected" "$tmp/actual" | tail -n +3 >&2 || true
exit 1
