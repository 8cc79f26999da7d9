"""The shared rate limiter on a real Redis: several limiters (and several processes) on one key
are paced together at the one rate."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from devfactory.errors import ConfigError
from devfactory.executor import ManualClock, RedisTokenBucket

ROOT = Path(__file__).resolve().parents[2]
RATE = 200.0  # high, so 100 acquisitions take about half a second of real time
N = 100

# One "process": waits for "go" on stdin, takes its share of tokens, prints its timestamps.
WORKER = """
import asyncio, json, sys, time
from devfactory.executor import RedisTokenBucket

url, key, rate, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])

async def main() -> None:
    bucket = RedisTokenBucket(url, key, rate, 1)
    await bucket.acquire()  # connect and load the script before the race starts
    print("ready", flush=True)
    sys.stdin.readline()
    stamps = []
    for _ in range(count):
        await bucket.acquire()
        stamps.append(time.time())
    await bucket.aclose()
    print(json.dumps(stamps), flush=True)

asyncio.run(main())
"""


async def _take(bucket: RedisTokenBucket, count: int) -> list[float]:
    stamps = []
    for _ in range(count):
        await bucket.acquire()
        stamps.append(time.monotonic())
    return stamps


def test_two_limiters_on_one_key_share_the_rate(redis_url: str, redis_namespace: str) -> None:
    """Two buckets (as two processes would hold) on one key take N tokens at R overall: the
    run lasts at least (N - burst) / R, not half of it."""
    key = f"{redis_namespace}:bucket"

    async def race() -> tuple[float, list[float], list[float]]:
        first = RedisTokenBucket(redis_url, key, RATE, 1)
        second = RedisTokenBucket(redis_url, key, RATE, 1)
        try:
            started = time.monotonic()
            a, b = await asyncio.gather(_take(first, N // 2), _take(second, N // 2))
            return time.monotonic() - started, a, b
        finally:
            await first.aclose()
            await second.aclose()

    elapsed, a, b = asyncio.run(race())
    assert elapsed >= (N - 1) / RATE * 0.9
    # interleaved, not one after the other: each finished near the end of the whole run
    assert min(a[-1], b[-1]) - min(a[0], b[0]) >= (N - 1) / RATE * 0.7
    client = redis.Redis.from_url(redis_url)
    try:
        ttl = client.pttl(key)
        assert 0 < ttl <= 2000  # expires about a second after the bucket would be full
    finally:
        client.delete(key)
        client.close()


def test_two_os_processes_share_one_bucket(redis_url: str, redis_namespace: str) -> None:
    """Two OS processes on one key: their acquisitions together are paced at R."""
    key = f"{redis_namespace}:processes"
    args = [sys.executable, "-c", WORKER, redis_url, key, str(RATE), str(N // 2)]
    workers = [
        subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and "ready" == worker.stdout.readline().strip()
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        stamps = []
        for worker in workers:
            out, _ = worker.communicate(timeout=60)
            assert 0 == worker.returncode
            stamps.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        redis.Redis.from_url(redis_url).delete(key)
    together = sorted(stamps[0] + stamps[1])
    assert N == len(together)
    # both warm-up tokens were taken just before: the race starts with an empty bucket
    assert together[-1] - together[0] >= (N - 1) / RATE * 0.9
    # each process alone would be done in half the time: they were paced together
    assert min(s[-1] - s[0] for s in stamps) >= (N - 1) / RATE * 0.6


def test_the_key_holds_no_token_and_expires(redis_url: str, redis_namespace: str) -> None:
    """The bucket is a hash of tokens and a timestamp (server time), with a TTL."""
    key = f"{redis_namespace}:state"
    clock = ManualClock()

    async def once() -> float:
        bucket = RedisTokenBucket(redis_url, key, 2.0, 3, clock)
        try:
            return sum([await bucket.acquire() for _ in range(4)])
        finally:
            await bucket.aclose()

    waited = asyncio.run(once())
    assert 0.5 == pytest.approx(waited, abs=0.05)  # burst of 3 free, the 4th waits 1/rate
    assert pytest.approx(waited) == sum(clock.sleeps)  # waited on the given clock
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        state = client.hgetall(key)
        assert {"tokens", "ts"} == set(state)
        assert 0 < client.pttl(key) <= 3000
    finally:
        client.delete(key)
        client.close()


def test_unreachable_redis_is_a_clear_config_error() -> None:
    """A Redis that does not answer names its (password-free) URL."""

    async def once() -> None:
        bucket = RedisTokenBucket("redis://:hunter2@127.0.0.1:1/0", "k", 1.0)
        try:
            await bucket.acquire()
        finally:
            await bucket.aclose()

    with pytest.raises(ConfigError, match=r"cannot use Redis at redis://:\*\*\*@127.0.0.1:1/0"):
        asyncio.run(once())
