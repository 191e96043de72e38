"""Load: concurrent clients on gunicorn's workers over every page and its callbacks, with the workers' memory.

Serves the app as the Procfile does (``python -m gunicorn app.main:server --workers 2`` on a free
loopback port) over analysed runs: ``--runs``/``--cache``, or else two quick runs trained on the
synthetic set and analysed in a temporary folder first (a minute or so). After one untimed pass
over the mix (as many concurrent passes as workers, so each worker loads its cached results),
``--clients`` threads, each with its own HTTP session, cycle through the mix until ``--seconds``
have passed or ``--max-requests`` have been sent. The mix, per page (the 404 page included):
- ``GET`` of the page's path (the HTML shell);
- the page-router callback (``_dash-update-component`` with the page's pathname and search), which
  is what renders a page in Dash;
- every server-side callback of the page whose inputs are in its layout, with the layout's values
  (bench/app_latency.py builds these payloads).
An error is any non-2xx response (204, a callback's "no update", is fine), a timeout or another
exception. Every ``--sample-seconds`` a thread reads each worker's resident memory (RSS) with
psutil. A worker's memory counts as flat when its growth, last sample over the first one taken
right after the warm-up pass, is under ``--flat-growth`` (10%) and the worker was not replaced.

Targets: 0 errors, p95 < 300 ms, every worker's RSS flat. Prints requests/s, p50/p95/p99/max,
p95 per endpoint, RSS per worker and, last, the error count. Requests go to 127.0.0.1 only,
bounded in time and number; gunicorn (its process group) is stopped at the end, on errors and Ctrl-C.

Usage: python bench/load.py [--runs runs --cache cache] [--clients 20] [--seconds 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.app_latency import (  # noqa: E402 - after sys.path learns the repo root
    PAGES,
    free_port,
    index_components,
    page_callbacks,
    parse_outputs,
    percentile,
    router_payload,
)

NOT_FOUND_PATH = "/no-such-page"  # renders the 404 page
UPDATE_PATH = "/_dash-update-component"
P95_TARGET_S = 0.300


@dataclass(frozen=True)
class Call:
    """One request of the mix: ``name`` labels it in the table."""

    name: str
    method: str
    path: str
    payload: dict | None = None


@dataclass(frozen=True)
class Sample:
    name: str
    seconds: float
    error: str  # "" when the response was 2xx


class RequestBudget:
    """At most ``limit`` requests over all clients."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


class Gunicorn:
    """``gunicorn app.main:server`` in its own process group, logging to ``log_path``."""

    def __init__(self, workers: int, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "app.main:server",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "120",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_healthy(self, seconds: float = 120) -> dict:
        deadline = time.monotonic() + seconds
        while True:
            try:
                return requests.get(self.url + "/health", timeout=2).json()
            except (requests.RequestException, ValueError):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit(f"gunicorn did not start; its log:\n{self.log_tail()}") from None
                time.sleep(0.5)

    def workers(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return []

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """SIGTERM to the whole group (master and workers), SIGKILL if it has not exited within 20 s."""
        # Ctrl-C is held back until the server is gone: a second one (or `timeout`, which signals the
        # child and then its whole group) would otherwise abort the wait and leave gunicorn running.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(10)
        except ProcessLookupError:
            pass  # already gone
        finally:
            self._log.close()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class MemorySampler(threading.Thread):
    """Every ``interval`` seconds, the RSS of each of the server's workers, by pid."""

    def __init__(self, server: Gunicorn, interval: float) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.interval = interval
        self.samples: dict[int, list[int]] = {}
        self.stopped = threading.Event()

    def sample(self) -> None:
        for worker in self.server.workers():
            try:
                self.samples.setdefault(worker.pid, []).append(worker.memory_info().rss)
            except psutil.NoSuchProcess:
                pass  # a worker that exited between listing and reading

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.sample()

    def finish(self) -> None:
        """Stop sampling and take the last sample now."""
        self.stopped.set()
        self.join()
        self.sample()


def make_quick_runs(folder: Path) -> tuple[Path, Path]:
    """Two quick runs trained on the synthetic set and analysed, in ``folder``: ``(runs_dir, cache_dir)``."""
    from analysis.cache import AnalysisCache
    from analysis.data.datasets import make_synthetic
    from analysis.pipeline import RunAnalyzer
    from analysis.runs.store import RunStore
    from analysis.training.profiles import get_profile
    from analysis.training.trainer import Trainer

    runs_dir, cache_dir = folder / "runs", folder / "cache"
    profile = get_profile("quick")
    dataset = make_synthetic().subset(profile.max_train_images, profile.max_test_images)
    trainer = Trainer(RunStore(runs_dir), profile, device="cpu", progress=False)
    for model in ("base", "shallow"):
        trainer.fit(model, dataset)
    analyzer = RunAnalyzer(RunStore(runs_dir), AnalysisCache(cache_dir))
    for name in analyzer.store.names():
        analyzer.analyze(name)
    analyzer.cache.close()
    return runs_dir, cache_dir


def callback_label(output: str) -> str:
    """A callback's name in the table: its first output, ``id.prop``, and how many more it has."""
    outputs = parse_outputs(output)
    more = f" +{len(outputs) - 1}" if len(outputs) > 1 else ""
    return f"{outputs[0]['id']}.{outputs[0]['property']}{more}"


def build_mix(base: str) -> list[Call]:
    """Every page's GET, router callback and layout-fed callbacks; renders each page once on the way."""
    session = requests.Session()
    session.get(base + "/", timeout=60).raise_for_status()
    dependencies = session.get(base + "/_dash-dependencies", timeout=60).json()
    mix = []
    for path in (*PAGES, NOT_FOUND_PATH):
        label = "404" if path == NOT_FOUND_PATH else path
        router = router_payload(path, "")
        response = session.post(base + UPDATE_PATH, json=router, timeout=120)
        if response.status_code != 200:
            raise SystemExit(f"rendering {path} answered HTTP {response.status_code}: {response.text[:300]}")
        layout = response.json()["response"]["_pages_content"]["children"]
        mix += [Call(f"{label} GET", "GET", path), Call(f"{label} router", "POST", UPDATE_PATH, router)]
        mix += [
            Call(f"{label} {callback_label(payload['output'])}", "POST", UPDATE_PATH, payload)
            for payload in page_callbacks(dependencies, index_components(layout, {}))
        ]
    return mix


def send(session: requests.Session, base: str, call: Call, timeout: float) -> Sample:
    start = time.perf_counter()
    try:
        response = session.request(call.method, base + call.path, json=call.payload, timeout=timeout)
        error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    except requests.RequestException as exc:
        error = type(exc).__name__
    return Sample(call.name, time.perf_counter() - start, error)


def client(
    index: int, base: str, mix: list[Call], stop_at: float, budget: RequestBudget, timeout: float, samples: list[Sample]
) -> None:
    """Cycle through the mix from position ``index`` (clients start spread over it) until time or budget run out."""
    session = requests.Session()
    position = index % len(mix)
    while time.monotonic() < stop_at and budget.take():
        samples.append(send(session, base, mix[position], timeout))  # list.append is atomic under the GIL
        position = (position + 1) % len(mix)


def run_clients(
    count: int, base: str, mix: list[Call], seconds: float, budget: RequestBudget, timeout: float
) -> list[Sample]:
    samples: list[Sample] = []
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=client, args=(i * len(mix) // count, base, mix, stop_at, budget, timeout, samples), daemon=True
        )
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def warm_up(base: str, mix: list[Call], workers: int) -> list[Sample]:
    """One untimed pass over the mix per worker, concurrently, so every worker likely serves every call."""
    return run_clients(workers, base, mix, seconds=600, budget=RequestBudget(workers * len(mix)), timeout=120)


def print_latencies(samples: list[Sample], mix: list[Call], elapsed: float) -> None:
    times = [s.seconds for s in samples]
    print(
        f"{len(samples)} requests in {elapsed:.1f} s: {len(samples) / elapsed:.1f} requests/s | "
        f"p50 {percentile(times, 0.5) * 1000:.0f} ms, p95 {percentile(times, 0.95) * 1000:.0f} ms, "
        f"p99 {percentile(times, 0.99) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    )
    print(f"{'endpoint':<52} {'n':>6} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'errors':>6}")
    for name in dict.fromkeys(call.name for call in mix):
        mine = [s for s in samples if s.name == name]
        if not mine:
            continue
        seconds = [s.seconds for s in mine]
        errors = sum(bool(s.error) for s in mine)
        print(
            f"{name[:52]:<52} {len(mine):6d} {percentile(seconds, 0.5) * 1000:7.0f} "
            f"{percentile(seconds, 0.95) * 1000:7.0f} {max(seconds) * 1000:7.0f} {errors:6d}"
        )


def print_memory(sampler: MemorySampler, start_pids: set[int], final_pids: set[int], flat_growth: float) -> bool:
    """RSS per worker; True when every worker's memory is flat and none was replaced."""
    flat = start_pids == final_pids
    print(
        f"worker RSS (MB), {sampler.interval:g} s samples; flat = last/first − 1 < {flat_growth:.0%}, "
        f"first sampled right after the warm-up"
    )
    for pid, rss in sampler.samples.items():
        growth = rss[-1] / rss[0] - 1
        replaced = "" if pid in final_pids else "  (exited during the run)"
        if pid not in start_pids:
            replaced = "  (started during the run)"
        flat &= growth < flat_growth
        print(
            f"  pid {pid}: first {rss[0] / 2**20:.0f}, last {rss[-1] / 2**20:.0f}, max {max(rss) / 2**20:.0f}, "
            f"growth {growth:+.1%} over {len(rss)} samples{replaced}"
        )
    return flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", help="an analysed runs folder (default: train and analyse two quick runs)")
    parser.add_argument("--cache", help="the analysis cache of --runs")
    parser.add_argument("--data", default="data", help="datasets folder (CNNCMP_DATA_DIR) with --runs")
    parser.add_argument(
        "--response-cache-mb",
        type=int,
        default=64,
        help="CNNCMP_RESPONSE_CACHE_MB of the server; 0 times every request rendered afresh",
    )
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-requests", type=int, default=100_000, help="stop after this many requests in all")
    parser.add_argument("--timeout", type=float, default=30, help="seconds before a request counts as an error")
    parser.add_argument("--sample-seconds", type=float, default=2, help="RSS sampling interval")
    parser.add_argument("--flat-growth", type=float, default=0.10, help="RSS growth still counted as flat")
    args = parser.parse_args()
    if bool(args.runs) != bool(args.cache):
        parser.error("--runs and --cache go together")
    if min(args.clients, args.workers, args.max_requests) < 1 or args.seconds <= 0:
        parser.error("--clients, --workers, --max-requests and --seconds must be positive")

    with tempfile.TemporaryDirectory(prefix="cnncmp-load-") as scratch:
        folder = Path(scratch)
        if args.runs:
            runs, cache, data = args.runs, Path(args.cache).resolve(), Path(args.data).resolve()
            if "://" not in runs:  # a bucket URL stays as it is; a folder is made absolute for gunicorn's cwd
                runs = str(Path(runs).resolve())
        else:
            start = time.perf_counter()
            runs_dir, cache = make_quick_runs(folder)
            runs, data = str(runs_dir), folder / "data"
            print(f"trained and analysed two quick runs in {time.perf_counter() - start:.0f} s")
        # The bench's own settings only: an inherited REDIS_URL or CNNCMP_* would point the server elsewhere.
        env = {key: value for key, value in os.environ.items() if not key.startswith(("CNNCMP_", "REDIS_URL"))}
        env.update(
            {
                "CNNCMP_RUNS_DIR": runs,
                "CNNCMP_CACHE_DIR": str(cache),
                "CNNCMP_DATA_DIR": str(data),
                "CNNCMP_LOG_LEVEL": "WARNING",
                "CNNCMP_RESPONSE_CACHE_MB": str(args.response_cache_mb),
                "PYTHONPATH": str(ROOT),
            }
        )
        server = Gunicorn(args.workers, env, folder / "gunicorn.log")
        try:
            health = server.wait_healthy()
            mix = build_mix(server.url)
            warm_errors = [s for s in warm_up(server.url, mix, args.workers) if s.error]
            print(
                f"{health['runs']} runs; gunicorn {args.workers} workers on {server.url}; {args.clients} clients "
                f"for {args.seconds:g} s (at most {args.max_requests} requests) over {len(mix)} calls; "
                f"{psutil.cpu_count()} CPUs, clients in this process"
            )
            if warm_errors:
                print(f"warm-up: {len(warm_errors)} errors, e.g. {warm_errors[0].name}: {warm_errors[0].error}")

            start_pids = {worker.pid for worker in server.workers()}
            sampler = MemorySampler(server, args.sample_seconds)
            sampler.sample()
            sampler.start()
            start = time.perf_counter()
            samples = run_clients(
                args.clients, server.url, mix, args.seconds, RequestBudget(args.max_requests), args.timeout
            )
            elapsed = time.perf_counter() - start
            sampler.finish()
            final_pids = {worker.pid for worker in server.workers()}
        finally:
            server.stop()

        errors = [s for s in samples if s.error]
        print_latencies(samples, mix, elapsed)
        flat = print_memory(sampler, start_pids, final_pids, args.flat_growth)
        for kind in sorted({(s.name, s.error) for s in errors})[:10]:
            print(f"  error: {kind[0]}: {kind[1]} × {sum(1 for s in errors if (s.name, s.error) == kind)}")
        if errors:
            print(f"gunicorn log tail:\n{server.log_tail(2000)}")
        p95 = percentile([s.seconds for s in samples], 0.95)
        met = not errors and p95 < P95_TARGET_S and flat
        print(
            f"target {'met' if met else 'NOT met'}: 0 errors ({len(errors)}), p95 < {P95_TARGET_S * 1000:.0f} ms "
            f"({p95 * 1000:.0f} ms), worker RSS flat ({'yes' if flat else 'no'})"
        )
        print(f"errors: {len(errors)}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # gunicorn is already stopped by main's finally
        sys.exit("interrupted")
