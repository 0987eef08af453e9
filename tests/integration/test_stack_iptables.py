"""The stack test's clean-up (tests/stack/restore-iptables.sh) puts iptables back exactly as it found them,
an empty rule set included, after dockerd's chains and FORWARD policy of DROP. Each case runs in a network
namespace of its own (`unshare --net`), so the machine's rules are never touched."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "stack" / "restore-iptables.sh"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("unshare", "iptables-save", "nft")),
    reason="needs root, unshare, iptables and nftables (make test-stack installs them)",
)

# What dockerd adds when it starts (its chains in filter and nat, jumps to them, and FORWARD DROP).
DOCKERD_RULES = """
iptables -P FORWARD DROP
iptables -N DOCKER
iptables -N DOCKER-USER
iptables -A FORWARD -j DOCKER-USER
iptables -A FORWARD -o docker0 -j DOCKER
iptables -A DOCKER-USER -j RETURN
iptables -t nat -N DOCKER
iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
"""


def in_namespace(script: str) -> str:
    """Run a bash script in a fresh network namespace; return its standard output."""
    result = subprocess.run(
        ["unshare", "--net", "bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def rules(saved: str) -> list[str]:
    """iptables-save output without its comments and packet counters."""
    return [line.split(" [")[0] for line in saved.splitlines() if line and not line.startswith("#")]


def test_restore_leaves_an_empty_rule_set_empty(tmp_path):
    saved = tmp_path / "before"
    after = in_namespace(f"iptables-save >{saved}\n{DOCKERD_RULES}\nbash {SCRIPT} {saved}\niptables-save\n")
    assert saved.read_text() == ""
    assert after == ""


def test_restore_brings_back_the_rules_there_were(tmp_path):
    saved = tmp_path / "before"
    script = (
        "iptables -A INPUT -p tcp --dport 2222 -j ACCEPT\n"
        f"iptables-save >{saved}\n{DOCKERD_RULES}\n"
        "echo ---with-dockerd\niptables-save\n"
        f"bash {SCRIPT} {saved}\necho ---restored\niptables-save\n"
    )
    output = in_namespace(script)
    with_dockerd, restored = output.split("---with-dockerd\n")[1].split("---restored\n")
    assert ":FORWARD DROP" in with_dockerd and "*nat" in with_dockerd
    assert rules(restored) == rules(saved.read_text())
    assert "-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT" in restored
