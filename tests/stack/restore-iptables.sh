#!/usr/bin/env bash
# restore-iptables.sh <saved>: puts the IPv4 rules back exactly as `iptables-save >saved` found them, an empty
# rule set included (the case of a fresh machine), after a dockerd run added its chains, NAT rules and a
# FORWARD policy of DROP. `iptables-restore` alone rewrites only the tables the saved file names, so a table
# that did not exist before (all of them, when the file is empty) is emptied here: rules flushed, chains
# deleted, policies back to ACCEPT, and, on the nf_tables backend, the table itself deleted, so that
# `iptables-save` prints exactly what it printed before. Run as root; tests/integration/test_stack_iptables.py
# checks it in a network namespace of its own.
set -euo pipefail
saved=$1

for table in $(iptables-save | sed -n 's/^\*//p'); do
  grep -qx "\*$table" "$saved" && continue
  iptables -t "$table" -F
  iptables -t "$table" -X
  # What is left are the built-in chains, each with its policy.
  for chain in $(iptables-save -t "$table" | sed -n 's/^:\([^ ]*\) .*/\1/p'); do
    iptables -t "$table" -P "$chain" ACCEPT
  done
  if iptables -V | grep -q nf_tables && command -v nft >/dev/null; then
    nft delete table ip "$table"
  fi
done
iptables-restore <"$saved"
