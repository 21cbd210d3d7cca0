"""A real `streamlit run` on a free 127.0.0.1 port, for the browser tests and the benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.config import PROJECT_DIR

# Streamlit watches the app's source files by default: each new session then costs some 0.3 s of CPU to set up
# its watchers, and an edited file is unloaded from sys.modules under the sessions running. Benchmarks switch it
# off (as a deployment should), unless asked to measure the default.
NO_FILE_WATCHER = {"STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
# As deployed (Makefile, deploy/serve.py): uvicorn leaves X-Forwarded-For to the app (core/proxies.py).
AS_DEPLOYED = {"FORWARDED_ALLOW_IPS": ""}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_streamlit(script: str | Path, env: Mapping[str, str], log_path: Path,
                    timeout: float = 60) -> tuple[subprocess.Popen[bytes], str]:
    """Start `streamlit run script` from the project root, wait for its health check; returns it and its URL.

    `env` is added to this process's environment and AS_DEPLOYED. The project root is the working directory, so
    the server reads the project's .streamlit/config.toml whatever the script.
    """
    port = free_port()
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=PROJECT_DIR, env={**os.environ, **AS_DEPLOYED, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early; see {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.3)
    stop_streamlit(process)
    raise RuntimeError(f"streamlit did not become healthy within {timeout:.0f} s; see {log_path}")


def stop_streamlit(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running_streamlit(script: str | Path, env: Mapping[str, str], log_path: Path) -> Iterator[RunningServer]:
    """`start_streamlit` as a context manager: yields the server, stops it on leaving."""
    process, url = start_streamlit(script, env, log_path)
    try:
        yield RunningServer(url, process)
    finally:
        stop_streamlit(process)
