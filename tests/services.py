"""Real servers on loopback for the deployment tests: Redis (Debian's redis-server) and an S3 endpoint (moto).

moto's server mode is an S3-compatible HTTP endpoint in a separate process: it speaks the same
protocol s3fs uses against AWS or MinIO, installs from PyPI with the other test packages (no
Debian or container image needed), and starts in about a second. MinIO would be closer to a
production bucket but is not packaged for Debian or PyPI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {seconds:.0f} s")


class RedisServer:
    """``redis-server`` on a free loopback port, in memory only; stop() and start() again on the same port."""

    def __init__(self, folder: Path, durable: bool = False) -> None:
        self.durable = durable  # keep the data across stop/start (an append-only file), as a production Redis does
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise RuntimeError("redis-server is missing: run scripts/ensure_test_packages.sh (Debian's redis-server)")
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--protected-mode",
                "yes",
                *(["--appendonly", "yes", "--appendfsync", "always"] if self.durable else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.ping, 15, "redis-server")
        return self

    def ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


class S3Server:
    """moto's S3-compatible server on a free loopback port, with one bucket."""

    def __init__(self, bucket: str = "cnncmp-test") -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.bucket = bucket
        self.process: subprocess.Popen | None = None

    def start(self) -> S3Server:
        env = {**os.environ, **AWS_TEST_ENV}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        wait_until(lambda: urllib.request.urlopen(self.endpoint, timeout=1).status == 200, 30, "moto S3 server")
        request = urllib.request.Request(f"{self.endpoint}/{self.bucket}", method="PUT")
        urllib.request.urlopen(request, timeout=5)
        return self

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def env(self) -> dict[str, str]:
        """What a process needs to reach the bucket."""
        return {**AWS_TEST_ENV, "CNNCMP_S3_ENDPOINT_URL": self.endpoint}

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


REPO_ROOT = Path(__file__).resolve().parents[1]


class Process:
    """A server process of the project (gunicorn, a Celery worker) with its own folder, env and log file."""

    def __init__(self, name: str, argv: list[str], folder: Path, env: dict[str, str]) -> None:
        self.name = name
        self.folder = folder
        self.log_path = folder / f"{name}.log"
        folder.mkdir(parents=True, exist_ok=True)
        full_env = {
            key: value for key, value in os.environ.items() if not key.startswith(("CNNCMP_", "REDIS_URL", "PORT"))
        }
        full_env.update({"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1", **env})
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            argv, cwd=folder, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self, last: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-last:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = 15) -> None:
        """Signal the whole process group (gunicorn's and Celery's children too) and wait."""
        if self.alive():
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(10)
        self._log.close()


def gunicorn(folder: Path, env: dict[str, str], workers: int = 2) -> tuple[Process, str]:
    """``gunicorn app.main:server`` as the Procfile starts it, on a free loopback port; returns it and its URL."""
    port = free_port()
    process = Process(
        "web",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "app.main:server",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "120",
            "--no-control-socket",
        ],
        folder,
        env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(url + "/health", timeout=2).status == 200, 90, "gunicorn")
    except RuntimeError as exc:
        process.kill()
        raise RuntimeError(f"{exc}; its log:\n{process.log()}") from None
    return process, url


def celery_worker(folder: Path, env: dict[str, str]) -> Process:
    """The Procfile's worker: ``celery -A app.worker worker`` with one process."""
    process = Process(
        "worker",
        [sys.executable, "-m", "celery", "-A", "app.worker", "worker", "--loglevel", "INFO", "--concurrency", "1"],
        folder,
        env,
    )
    try:
        wait_until(lambda: "ready." in process.log(20000), 90, "the Celery worker")
    except RuntimeError as exc:
        process.kill()
        raise RuntimeError(f"{exc}; its log:\n{process.log()}") from None
    return process
