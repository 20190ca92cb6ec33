#!/usr/bin/env bash
# Operations figures (BENCHMARKS.md, issue #15): how long a token change takes with the
# running node's confirmation, and what checking a whole bundle before importing it
# costs. Needs a release build (`cargo build --release -p customs-node`), curl and GNU
# time. N=20000 alerts by default.
set -euo pipefail
bin="$(cd "$(dirname "$0")/../.." && pwd)/target/release/customs-node"
w=$(mktemp -d /tmp/measure.XXXX)
$bin init --dir $w/nl --code NL --name NL --network m1 --p2p-listen /ip4/127.0.0.1/tcp/0 \
  --api-listen 127.0.0.1:0 --allow-publish-before-sync > /dev/null
$bin run --dir $w/nl 2> $w/nl.log &
pid=$!
# Wait (at most 30 s) for the node to write its API address.
deadline=$((SECONDS + 30))
until [ -s $w/nl/api.url ]; do
  [ $SECONDS -lt $deadline ] || { echo "the node did not start within 30 s" >&2; cat $w/nl.log >&2; exit 1; }
  sleep 0.1
done
url=$(cat $w/nl/api.url)
token=$(cat $w/nl/api-token)
$bin alert template > $w/alert.json

# Token changes, each confirmed by the running node before the command returns.
start=$(date +%s%N)
for i in $(seq 1 20); do
  $bin token create --dir $w/nl --role reader --name "r$i" > /dev/null 2>&1
  $bin token revoke --dir $w/nl --name "r$i" > /dev/null
done
end=$(date +%s%N)
echo "token create+revoke, 40 confirmed changes: $(( (end - start) / 40000000 )) ms each"

# 20,000 alerts through the API (8 clients), then export, verify and import.
n=${N:-20000}
start=$(date +%s%N)
seq 1 $n | xargs -P 8 -I{} curl -s -o /dev/null -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' --data-binary @$w/alert.json $url/api/v1/alerts
end=$(date +%s%N)
echo "published $n alerts in $(( (end - start) / 1000000 )) ms"
$bin export --dir $w/nl --out $w/nl.bundle
kill $pid; wait $pid || true
ls -l $w/nl.bundle
mkdir $w/restored
cp $w/nl/{node.toml,identity.key,tokens.toml,api-token} $w/restored/
/usr/bin/time -f "import --verify: %e s, %M KiB peak" $bin import --verify --dir $w/restored $w/nl.bundle 2>&1 | grep -v checking
/usr/bin/time -f "import (check, then store): %e s, %M KiB peak" $bin import --dir $w/restored $w/nl.bundle 2>&1 | grep -v -e checking -e importing
rm -rf $w
