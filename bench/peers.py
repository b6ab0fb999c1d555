"""Run a peer layout engine (elkjs / dagre from shared/peers) on a node/edge list and count its
crossings, area and edge length with the shared counter. Optional: needs node and
`npm i elkjs @dagrejs/dagre` in ~/.cache/nnviz-peers; returns None when they are missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

PEER_JS = Path(os.environ.get("BENCH_JS", Path.home() / ".cache" / "nnviz-peers"))
PEERS = Path(os.environ.get("NNVIZ_PEERS", "/work/shared/peers"))


def run_peer_json(engine: str, data: dict, limit: float) -> dict | None:
    """``data`` = {"nodes": [{id, label, w, h}], "edges": [[src, dst]]}. Returns the shared
    counter's metrics plus "time" (wall seconds; None after ``limit``), or None if the peer
    cannot run here."""
    script = PEERS / f"{engine}_layout.js"
    node = shutil.which("node")
    if node is None or not script.exists() or not (PEER_JS / "node_modules").exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(data))
        t0 = time.perf_counter()
        try:
            subprocess.run(["bash", "-c", f"ulimit -s unlimited; exec {node} "
                            f"--stack-size=500000 {script} {src} {dst}"], check=True,
                           capture_output=True, timeout=limit)
        except subprocess.TimeoutExpired:
            return {"time": None}
        except subprocess.CalledProcessError:
            return None
        wall = time.perf_counter() - t0
        import numpy as np

        d = json.loads(dst.read_text())
        d["edges"] = [[s, t, np.asarray(p, dtype=float).reshape(-1, 2)] for s, t, p in d["edges"]]
        from bench import metrics as m

        res = m._MOD.metrics(d) if m._MOD is not None else m._local_metrics(d)
        return {"time": wall, **res}
