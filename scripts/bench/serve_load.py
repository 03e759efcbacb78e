"""Load test of ``serve.py`` on loopback: throughput, latency, lost or wrong answers, and a replica killed mid-load.

For each backend and replica count it starts ``python src/serve.py`` as a user would (its own process group,
stopped by its PID), then
  1. one client sends one text at a time (``--single`` requests): the baseline rate;
  2. ``--clients`` concurrent clients send ``--requests`` requests, one text each, every ``--bad-every``-th one bad
     (malformed JSON, a missing field, an empty text, too many texts, a text over the size limit, in turn):
     throughput of good requests, their p50/p95/p99 latency, good requests lost (not 200) or answered wrongly
     (the label differs from ``predict.py``'s for that text, or a probability by more than ``--tolerance``), and
     bad requests not answered with a 4xx;
with ``--kill``, one more run on two replicas kills one replica (SIGKILL, by the PID its /health gave) a third of
the way through and counts what failed, and how long Serve took to bring a new replica up.

Run it inside a loopback-only network namespace (Ray advertises the machine's address otherwise):
  unshare -rn sh -c 'ip link set lo up && OMP_NUM_THREADS=1 .venv/bin/python scripts/bench/serve_load.py \
      --ckpt <run or export> --backends torch onnx --replicas 1 2 --kill'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from attentune.serving.server import free_port

REPO = Path(__file__).resolve().parents[2]
BAD = [  # (body, what it is): each must get a 4xx
    (b'{"text": "unterminated', "malformed JSON"),
    (b'{"txt": "a field of another name"}', "missing field"),
    (b'{"text": "   "}', "empty text"),
    (json.dumps({"texts": ["a"] * 1000}).encode(), "too many texts"),
    (json.dumps({"text": "x" * 200_000}).encode(), "text over the size limit"),
]


class Server:
    """``serve.py`` in a process group of its own; ``stop()`` sends SIGTERM to its PID (then SIGKILL to its group)."""

    def __init__(self, ckpt: str, backend: str, replicas: int, port: int, log: Path, extra: list[str]) -> None:
        self.url, self.log = f"http://127.0.0.1:{port}", log
        cmd = [sys.executable, str(REPO / "src" / "serve.py"), f"ckpt_path={ckpt}", f"backend={backend}"]
        cmd += [f"replicas={replicas}", f"port={port}", f"hydra.run.dir={log.parent / log.stem}", *extra]
        self.started = time.time()
        with log.open("w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 300) -> float:
        import urllib.request

        while time.time() - self.started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve.py exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if json.load(r)["status"] == "ok":
                        return time.time() - self.started
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"serve.py not ready in {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group we started, by its id
            return self.proc.wait()


async def replica_pids(url: str, calls: int = 30) -> set[int]:
    async with aiohttp.ClientSession() as http:
        pids = set()
        for _ in range(calls):
            try:
                async with http.get(f"{url}/health") as r:
                    pids.add((await r.json())["pid"])
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        return pids


async def load(
    url: str, texts: list[str], clients: int, requests: int, bad_every: int, on_progress=None
) -> list[dict[str, Any]]:
    """``requests`` requests from ``clients`` concurrent clients; one result per request, in order."""
    jobs = asyncio.Queue()
    for i in range(requests):
        bad = bad_every and i % bad_every == bad_every - 1
        body, what = (
            BAD[(i // bad_every) % len(BAD)] if bad else (json.dumps({"text": texts[i % len(texts)]}).encode(), "")
        )
        jobs.put_nowait((i, body, what))
    results: list[dict[str, Any]] = [{} for _ in range(requests)]
    done = 0

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal done
        while not jobs.empty():
            i, body, what = jobs.get_nowait()
            start = time.perf_counter()
            try:
                async with http.post(f"{url}/predict", data=body, headers={"content-type": "application/json"}) as r:
                    answer, status = await r.json(content_type=None), r.status
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                answer, status = {"error": type(exc).__name__}, 0
            results[i] = {
                "i": i,
                "bad": what,
                "status": status,
                "ms": 1000 * (time.perf_counter() - start),
                "answer": answer,
            }
            done += 1
            if on_progress:
                await on_progress(done)

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=clients)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return results


def summarise(results: list[dict], seconds: float, texts: list[str], expected: list[dict], tol: float) -> dict:
    good = [r for r in results if not r["bad"]]
    bad = [r for r in results if r["bad"]]
    ok = [r for r in good if r["status"] == 200]
    wrong = 0
    for r in ok:
        want, got = expected[r["i"] % len(texts)], r["answer"]
        if got.get("pred") != want["pred"] or any(abs(got["probs"][k] - v) > tol for k, v in want["probs"].items()):
            wrong += 1
    ms = sorted(r["ms"] for r in ok) or [float("nan")]

    def pct(q: float) -> float:
        return round(ms[min(len(ms) - 1, int(q * len(ms)))], 2)

    return {
        "good": len(good),
        "good_ok": len(ok),
        "good_failed": len(good) - len(ok),
        "wrong_answers": wrong,
        "bad": len(bad),
        "bad_answered_4xx": sum(400 <= r["status"] < 500 and "error" in r["answer"] for r in bad),
        "texts_per_s": round(len(ok) / seconds, 1),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "seconds": round(seconds, 2),
    }


def expected_answers(ckpt: str, backend: str, texts: list[str]) -> list[dict]:
    """predict.py's answer for each text, one text at a time (in this process, the same predictor code)."""
    sys.path.insert(0, str(REPO / "src"))
    from attentune.serving.predictor import load_predictor
    from attentune.serving.requests import answer

    model = load_predictor(ckpt, 64, backend)
    try:
        return [answer(model.predict([{"text": t}])[0]) for t in texts]
    finally:
        model.close()


def test_texts(ckpt: str, n: int) -> list[str]:
    sys.path.insert(0, str(REPO / "src"))
    from omegaconf import OmegaConf

    from attentune.serving.export import split_records
    from attentune.serving.predictor import load_predictor
    from attentune.tasks.task import tasks

    model = load_predictor(ckpt, 64, "onnx" if Path(ckpt, "config.json").is_file() else "torch")
    records, _ = split_records(OmegaConf.create({"data": model.data}), tasks()[model.task], "test", None)
    model.close()
    return [r["text"] for r in records[:n]]


def scenario(args, backend: str, replicas: int, texts, expected, kill: bool, logs: Path) -> dict[str, Any]:
    name = f"{backend} x{replicas}" + (" kill" if kill else "")
    extra = [f"threads={args.threads}", f"max_batch_size={args.max_batch_size}", f"batch_wait_s={args.batch_wait_s}"]
    server = Server(args.ckpt, backend, replicas, free_port(), logs / f"{name.replace(' ', '_')}.log", extra)
    row: dict[str, Any] = {"scenario": name}
    try:
        row["ready_s"] = round(server.wait_ready(), 1)
        asyncio.run(load(server.url, texts, 4, 40, 0))  # warm-up
        start = time.perf_counter()
        single = asyncio.run(load(server.url, texts, 1, args.single, 0))
        row["single"] = summarise(single, time.perf_counter() - start, texts, expected, args.tolerance)
        killed: dict[str, Any] = {}

        async def kill_a_replica(done: int) -> None:
            if kill and not killed and done >= args.requests // 3:
                killed["at"] = time.time()  # claimed before the await: the other clients pass by
                killed["pid"] = min(await replica_pids(server.url, 10))
                killed["at"] = time.time()
                os.kill(killed["pid"], signal.SIGKILL)

        start = time.perf_counter()
        results = asyncio.run(load(server.url, texts, args.clients, args.requests, args.bad_every, kill_a_replica))
        row["load"] = summarise(results, time.perf_counter() - start, texts, expected, args.tolerance)
        row["speedup"] = round(row["load"]["texts_per_s"] / row["single"]["texts_per_s"], 2)
        if kill:
            before = killed["pid"]
            while time.time() - killed["at"] < 120:
                pids = asyncio.run(replica_pids(server.url, 10))
                if len(pids) == replicas and before not in pids:
                    break
                time.sleep(1)
            row["kill"] = {
                "killed_pid": before,
                "replicas_after": sorted(pids),
                "restored": before not in pids and len(pids) == replicas,
                "restore_s": round(time.time() - killed["at"], 1),
            }
    finally:
        row["exit_code"] = server.stop()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="a run, its best.ckpt, a sweep's best/ or an export directory")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx"])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--single", type=int, default=300, help="requests of the one-client baseline")
    parser.add_argument("--bad-every", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-wait-s", type=float, default=0.005)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--kill", action="store_true", help="also kill one of two replicas mid-load")
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = parser.parse_args()
    texts = test_texts(args.ckpt, 500)
    logs = Path(tempfile.mkdtemp(prefix="serve-load-"))
    rows = []
    for backend in args.backends:
        expected = expected_answers(args.ckpt, backend, texts)
        runs = [(r, False) for r in args.replicas] + ([(2, True)] if args.kill and backend == args.backends[-1] else [])
        for replicas, kill in runs:
            row = scenario(args, backend, replicas, texts, expected, kill, logs)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(
        f"\n{os.cpu_count()} CPUs, {args.clients} clients, {args.requests} requests (1 in {args.bad_every} bad), "
        f"threads/replica {args.threads}; logs in {logs}"
    )
    print(
        "scenario | 1 client texts/s | p50 ms | load texts/s | speed-up | p50 | p95 | p99 ms | lost | wrong | bad 4xx"
    )
    for r in rows:
        s, g = r["single"], r["load"]
        print(
            f"{r['scenario']} | {s['texts_per_s']} | {s['p50_ms']} | {g['texts_per_s']} | {r['speedup']}x | "
            f"{g['p50_ms']} | {g['p95_ms']} | {g['p99_ms']} | {g['good_failed']}/{g['good']} | {g['wrong_answers']} |"
            f" {g['bad_answered_4xx']}/{g['bad']}" + (f" | kill: {r['kill']}" if "kill" in r else "")
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
