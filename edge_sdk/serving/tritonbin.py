"""The ``tritonserver`` shipped in ``nvidia-pytriton``, run on a model repository as a child.

``edge-sdk serve --repository DIR`` and the tests use it to serve the python variant of an
exported repository. The server gets a backend folder of its own in which the python backend's
stub is the one built for this interpreter (PyTriton does the same for its own models), and the
``python`` of this environment first on ``PATH``, which is where the stub takes its packages from.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from types import TracebackType

from edge_sdk.errors import ServingError
from edge_sdk.serving.compat import check_interpreter, triton_dist


class TritonProcess:
    """``tritonserver --model-repository DIR`` with loopback endpoints; ``with`` starts and stops.

    Args:
        repository: The model repository (e.g. ``OUT/python`` of ``edge-sdk export-triton``).
        http_port, grpc_port, metrics_port: Endpoint ports.
        address: Interface of all three endpoints.
        log: File that receives the server's output (default: a temporary file).
        ready_timeout_s: How long :meth:`start` waits for every model to be ready.
    """

    def __init__(self, repository: str | Path, http_port: int = 8000, grpc_port: int = 8001,
                 metrics_port: int = 8002, address: str = "127.0.0.1", log: Path | None = None,
                 ready_timeout_s: float = 180.0) -> None:
        self.repository = Path(repository).resolve()
        self.http_port, self.grpc_port, self.metrics_port = http_port, grpc_port, metrics_port
        self.address, self.ready_timeout_s = address, ready_timeout_s
        self._tmp = tempfile.TemporaryDirectory(prefix="edge-sdk-triton-")
        self.log = log or Path(self._tmp.name) / "tritonserver.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _backends(self) -> Path:
        dist = triton_dist()
        folder = Path(self._tmp.name) / "backends" / "python"
        folder.mkdir(parents=True, exist_ok=True)
        for item in (dist.root / "backends" / "python").iterdir():
            if item.is_file():
                (folder / item.name).symlink_to(item)
        (folder / "triton_python_backend_stub").symlink_to(dist.stub())
        return folder.parent

    def command(self) -> list[str]:
        dist = triton_dist()
        return [str(dist.binary), f"--model-repository={self.repository}",
                f"--backend-directory={self._backends()}",
                f"--http-address={self.address}", f"--http-port={self.http_port}",
                f"--grpc-address={self.address}", f"--grpc-port={self.grpc_port}",
                f"--metrics-address={self.address}", f"--metrics-port={self.metrics_port}",
                "--allow-gpu-metrics=false", "--exit-timeout-secs=5", "--strict-readiness=true"]

    def start(self) -> TritonProcess:
        check_interpreter()
        dist = triton_dist()
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = ":".join(p for p in (str(dist.libs), env.get("LD_LIBRARY_PATH"))
                                          if p)
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        with open(self.log, "wb") as log:
            # a session of its own: stop() ends the server and its python stubs together
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            env=env, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            # e.g. Ctrl-C or SIGTERM while it loads: __exit__ never runs for a failed
            # __enter__, and a server in a session of its own would outlive this process
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        import tritonclient.http as http

        deadline = time.monotonic() + self.ready_timeout_s
        client = http.InferenceServerClient(f"{self.address}:{self.http_port}",
                                            connection_timeout=2.0, network_timeout=2.0)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise ServingError(f"tritonserver exited with code {self.process.returncode} "
                                       f"while loading {self.repository}: {self.log_tail()}")
                try:
                    if client.is_server_ready():
                        return
                except Exception:  # noqa: BLE001 - not listening yet
                    pass
                time.sleep(0.25)
        finally:
            client.close()
        self.stop()
        raise ServingError(f"tritonserver on {self.repository} not ready after "
                           f"{self.ready_timeout_s:g} s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as handle:
                return " | ".join(line.rstrip() for line in deque(handle, maxlen=lines))
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(5)

    def __enter__(self) -> TritonProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        self._tmp.cleanup()
