"""What the stack's load balancer costs: REST single records at c=8 through HAProxy with the stack's own
configuration (dockerfiles/haproxy/haproxy.cfg, its one replica found at a fixed address instead of through
Docker's DNS), against the same service called straight, in alternating rounds so that the machine's drift
falls on both. The CPU column of the balanced row is HAProxy's own; the service's is in the other row."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pandas as pd

from benchmarks import cases
from benchmarks.load import measure_http, write_load_files
from benchmarks.measurement import Measurement
from benchmarks.prediction_log_cost import PREDICT_PATH, ROUNDS, combine_runs, throwaway_log_lake
from benchmarks.records import service_body, single_record_bodies
from benchmarks.servers import start_service, stop_server
from burnout_base.settings import Settings
from burnout_dev.processes import free_port

STACK_CONFIG = Path(__file__).resolve().parents[1] / "dockerfiles" / "haproxy" / "haproxy.cfg"


def find_haproxy() -> str | None:
    return shutil.which("haproxy")


def local_balancer_config(ports: dict[str, int], replica_http: int, replica_grpc: int) -> str:
    """The stack's balancer configuration with local ports (`ports`: http, grpc, healthz) and one replica at
    127.0.0.1 instead of those Docker's DNS names; everything else (timeouts, checks, retries) as is."""
    config = STACK_CONFIG.read_text()
    config = re.sub(r"\nresolvers docker\n(    .*\n)+", "\n", config)
    config = config.replace(" init-addr none resolvers docker", "")
    config = config.replace("bind :8800", f"bind 127.0.0.1:{ports['http']}")
    config = config.replace("bind :50051", f"bind 127.0.0.1:{ports['grpc']}")
    config = config.replace("bind :8404", f"bind 127.0.0.1:{ports['healthz']}")
    config = config.replace("server-template api 1-8 api:8800", f"server api1 127.0.0.1:{replica_http}")
    config = config.replace("server-template grpc 1-8 api:50051", f"server grpc1 127.0.0.1:{replica_grpc}")
    config = config.replace("http-check connect port 8800", f"http-check connect port {replica_http}")
    return config


def start_balancer(config: str, workdir: Path, ready_url: str, timeout: float = 30) -> subprocess.Popen:
    """Run haproxy on `config` until `ready_url` (through it) answers 200."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "haproxy.cfg"
    path.write_text(config)
    log = workdir / "haproxy.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(["haproxy", "-f", str(path)], stderr=stderr)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the balancer did not reach a ready replica within {timeout:.0f}s")


def measure_balancer_cost(
    settings: Settings, records: pd.DataFrame, seconds: float, warmup_s: float, workdir: Path
) -> list[Measurement]:
    """Two rows, through the balancer and straight to the replica, each over `seconds` in all (ROUNDS runs);
    none when haproxy is not installed."""
    if find_haproxy() is None:
        return []
    bodies = write_load_files(workdir, "ours_single", single_record_bodies(records, service_body))
    replica = start_service(
        settings, free_port(), free_port(), workdir / "logs", name="replica", **throwaway_log_lake(workdir)
    )
    balancer = None
    try:
        ports = {"http": free_port(), "grpc": free_port(), "healthz": free_port()}
        config = local_balancer_config(ports, int(replica.url.rsplit(":", 1)[1]), replica.grpc_port)
        balancer_url = f"http://127.0.0.1:{ports['http']}"
        balancer = start_balancer(config, workdir / "balancer", balancer_url + "/ready")
        targets = {
            cases.REST_SINGLE_C8_BALANCED: (balancer_url, balancer.pid),
            cases.REST_SINGLE_C8_DIRECT: (replica.url, replica.pid),
        }
        runs: dict[str, list[Measurement]] = {setting: [] for setting in targets}
        for round_ in range(ROUNDS):
            order = list(targets) if round_ % 2 == 0 else list(reversed(targets))
            for setting in order:
                url, pid = targets[setting]
                warmup = warmup_s if round_ == 0 else 0.0
                measured = measure_http(
                    setting, cases.OURS, pid, url + PREDICT_PATH, bodies, 8, seconds / ROUNDS, warmup, 1
                )
                runs[setting].append(measured)
        return [combine_runs(measured) for measured in runs.values()]
    finally:
        if balancer is not None:
            balancer.terminate()
            balancer.wait(timeout=10)
        stop_server(replica)
