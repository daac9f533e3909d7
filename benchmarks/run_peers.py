"""Run peer scripts in their own processes (so each one's peak RSS is its own) and collect their JSON."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PEERS = Path(__file__).resolve().parent / "peers"


def run_peer(script: str, *args: str) -> dict:
    """Run ``peers/<script>`` with ``args``; return the JSON line it printed last."""
    proc = subprocess.run([sys.executable, str(PEERS / script), *args], capture_output=True, text=True,
                          cwd=PEERS)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{script} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def torch_available() -> bool:
    return subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0
