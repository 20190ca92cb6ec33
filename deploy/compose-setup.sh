#!/bin/sh
# Creates the three node directories of the compose network (nl, be, de) under
# DATA_ROOT and admits every member to every other. Run once, by the compose service
# `setup`, or by hand: compose-setup.sh CUSTOMS_NODE DATA_ROOT
set -eu
node=${1:-/usr/local/bin/customs-node}
root=${2:-/srv}
network=customs-compose

ip_of() {
  case "$1" in
    nl) echo 172.28.0.11 ;;
    be) echo 172.28.0.12 ;;
    de) echo 172.28.0.13 ;;
  esac
}

for member in nl be de; do
  dir="$root/$member"
  if [ -f "$dir/node.toml" ]; then
    echo "$dir is initialised already"
    continue
  fi
  code=$(echo "$member" | tr a-z A-Z)
  first=""
  if [ "$member" = nl ]; then first="--allow-publish-before-sync"; fi
  "$node" init --dir "$dir" --code "$code" --name "$code Customs (compose)" \
    --network "$network" --p2p-listen /ip4/0.0.0.0/tcp/7400 --api-listen 0.0.0.0:7480 \
    --external-address "/ip4/$(ip_of "$member")/tcp/7400" $first
done

for member in nl be de; do
  "$node" member export --dir "$root/$member" > "$root/$member.card"
done
for member in nl be de; do
  for other in nl be de; do
    if [ "$member" != "$other" ] && ! grep -q "$(grep public_key "$root/$other.card")" "$root/$member/members.toml" 2>/dev/null; then
      "$node" member add --dir "$root/$member" "$root/$other.card"
    fi
  done
done
# The nodes run as the image's user `customs` (uid 10001).
if [ "$(id -u)" = 0 ]; then
  chown -R 10001:10001 "$root/nl" "$root/be" "$root/de"
fi
echo "the three nodes know each other; admin tokens are in $root/*/api-token"
