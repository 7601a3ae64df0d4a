"""How soon ``liuhen project`` ends after SIGTERM, wherever in a rebuild the signal lands.

    .venv/bin/python bench/project_stop.py [--events 200000] [--signals 12]

Builds a ledger of the simulated city's first ``--events`` entries (as ``bench/bursts.py``
does), times one uninterrupted ``liuhen project --rebuild``, then runs ``--signals`` more
rebuilds, each sent SIGTERM at a moment spread evenly over that time (so every phase is hit: the
backlog read ahead by a second process, the batches read in process, the query indexes built at
the end), and prints for each how long the process took to exit after the signal, and where the
rebuild stood. Each stopped run is then resumed by a plain ``liuhen project``; the last must
reach the ledger's end.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bursts import build, mixed


def project(env: dict[str, str], *extra: str, signal_after: float | None = None) -> tuple[float, str, str]:
    """Run ``liuhen project``; (seconds from the signal, or from the start, to exit; stdout; stderr)."""
    command = [sys.executable, "-m", "ledger.cli", "project", *extra]
    began = time.perf_counter()
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if signal_after is not None:
        time.sleep(signal_after)
        began = time.perf_counter()
        run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=3600)
    if run.returncode == -signal.SIGTERM and signal_after is not None:
        out = "at notification -1"  # the signal came while Python was still starting: nothing began
    elif run.returncode != 0:
        sys.exit(f"liuhen project failed (exit {run.returncode}): {err[-2000:]}")
    return time.perf_counter() - began, out, err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--signals", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="liuhen-stop-") as folder:
        home = Path(folder)
        written = build(home / "ledger.db", mixed(args.events))
        env = {**os.environ, "LIUHEN_HOME": str(home)}
        whole, out, _ = project(env, "--rebuild")
        end = int(re.findall(r"at notification (\d+)", out)[0])
        print(f"{written:,} entries; an uninterrupted rebuild takes {whole:.1f} s", flush=True)
        delays = []
        for n in range(args.signals):
            at = whole * (n + 0.5) / args.signals
            delay, out, err = project(env, "--rebuild", signal_after=at)
            position = int(re.findall(r"at notification (-?\d+)", out)[0])
            stopped = "stopped before catching up" in err
            where = f"stopped at notification {position:,} of {end:,}" if stopped else "had finished"
            if position < 0:
                where = "killed while Python was starting, before the run began (the default action)"
            print(f"  SIGTERM {at:5.1f} s in: exited {delay:.2f} s later, {where}", flush=True)
            delays.append(delay)
            _, out, _ = project(env)
            assert f"at notification {end}" in out, out
        print(
            f"exit after SIGTERM: median {statistics.median(delays):.2f} s, max {max(delays):.2f} s; "
            "every stopped rebuild resumed to the ledger's end"
        )


if __name__ == "__main__":
    main()
