#!/usr/bin/env python3
"""Many people long-polling one `runnel chat` server: N simulated users each wait for the next
message of one room (GET /api/rooms/ROOM/messages?after=LAST&wait=30000, each on its own HTTP
connection); one user posts; the script times how long each waiting user takes to get the
message, from just before the post. Repeats for a few rounds and reports delivery percentiles,
the chat server's resident memory, and the broker's client connections while they wait.

Usage: scripts/chat_long_poll.py [N] [ROUNDS] [RUNNEL...]   (default 1000 and 5; each RUNNEL
binary in turn runs a broker and a chat server, to compare builds in one run; without one,
target/release/runnel, built first)"""

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ROOM = "crowd"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


def call(url, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


async def wait_for_next(host, port, user, after, started):
    """One user's long poll on a connection of its own; returns (seconds after `started`, the
    messages it got)."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
        path = f"/api/rooms/{ROOM}/messages?user={user}&after={after}&wait=30000"
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        started.set()
        response = await reader.read()
        writer.close()
    except OSError as e:
        started.set()
        return time.perf_counter(), RuntimeError(f"{user}: {e}")
    arrived = time.perf_counter()
    head, _, body = response.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return arrived, RuntimeError(f"{user}: {head.splitlines()[0].decode(errors='replace')} {body.decode(errors='replace')}")
    if b"chunked" in head.lower():
        raise RuntimeError("chunked answers are not expected from the chat API")
    return arrived, json.loads(body)["messages"]


async def one_round(url, count, round_, strict):
    host, port = url.removeprefix("http://").rsplit(":", 1)
    last = call(url, "POST", f"/api/rooms/{ROOM}/messages", {"user": "host", "text": f"before round {round_}"})["offset"]
    events = [asyncio.Event() for _ in range(count)]
    waiters = [asyncio.create_task(wait_for_next(host, int(port), f"user{i}", last, events[i])) for i in range(count)]
    for e in events:
        await e.wait()
    await asyncio.sleep(2)  # every request is now waiting in the chat server
    sent = time.perf_counter()
    offset = await asyncio.to_thread(
        call, url, "POST", f"/api/rooms/{ROOM}/messages", {"user": "host", "text": f"round {round_}"})
    results = await asyncio.gather(*waiters)
    expected = [offset["offset"]]
    for i, (arrived, messages) in enumerate(results):
        if not isinstance(messages, Exception) and [m["offset"] for m in messages] != expected:
            results[i] = (arrived, RuntimeError(f"user{i} got {messages}, not the one new message"))
    failed = [messages for _, messages in results if isinstance(messages, Exception)]
    if failed and (strict or len(failed) == len(results)):
        raise RuntimeError(f"round {round_}: {len(failed)} of {count} users failed, e.g. {failed[0]}")
    latencies = sorted((arrived - sent) * 1000 for arrived, m in results if not isinstance(m, Exception))
    return latencies, failed


def measure(url, chat_pid, count, rounds, connections=lambda: None, report=print, strict=True):
    """`rounds` rounds of `count` users waiting and one post; returns (latencies in ms, chat RSS
    in KiB before and at most while they wait, the broker's connections while they wait as
    `connections()` reads them). Strict: raises unless every user got the new message in every
    round; otherwise failed requests are reported and left out of the latencies."""
    call(url, "POST", f"/api/rooms/{ROOM}/messages", {"user": "host", "text": "warm-up"})
    before = rss_kib(chat_pid)
    latencies, during, broker_connections = [], before, None
    for round_ in range(rounds):

        async def round_with_probe():
            task = asyncio.create_task(one_round(url, count, round_, strict))
            await asyncio.sleep(1.5 + count / 2000)
            return task, rss_kib(chat_pid), connections()

        async def run():
            task, rss, conns = await round_with_probe()
            return await task, rss, conns

        (round_latencies, failed), rss, conns = asyncio.run(run())
        during = max(during, rss)
        broker_connections = conns if broker_connections is None else max(broker_connections, conns or 0)
        latencies.extend(round_latencies)
        got = f"all {count}" if not failed else f"{len(round_latencies)} of {count} ({len(failed)} failed: {failed[0]})"
        report(f"round {round_ + 1}: {got} got the message; p50 {percentile(round_latencies, 50):.1f} ms, "
               f"p99 {percentile(round_latencies, 99):.1f} ms, last {round_latencies[-1]:.1f} ms")
    return sorted(latencies), before, during, broker_connections


def broker_connections(http):
    """The broker's open client connections (runnel_connections on its /metrics)."""
    with urllib.request.urlopen(f"http://{http.removeprefix('http://')}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("runnel_connections "):
                return int(float(line.split()[1]))
    return None


def run_binary(binary, count, rounds):
    """A broker and a chat server of `binary`, measured; prints the summary line."""
    with tempfile.TemporaryDirectory() as data:
        broker = subprocess.Popen([binary, "serve", "--data-dir", data, "--listen", "127.0.0.1:0",
                                   "--http-listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        chat = None
        try:
            http = broker.stdout.readline().split()[-1]
            line = broker.stdout.readline()
            while not line.startswith("runnel listening on"):
                line = broker.stdout.readline()
            bootstrap = line.split()[-1]
            chat = subprocess.Popen([binary, "chat", "--listen", "127.0.0.1:0", "--brokers", bootstrap],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            url = chat.stdout.readline().split("runnel chat listening on ")[1].split(" ")[0]
            print(f"==> {binary}", flush=True)
            latencies, before, during, conns = measure(url, chat.pid, count, rounds,
                                                       lambda: broker_connections(http),
                                                       lambda text: print(text, flush=True), strict=False)
            print(f"{count} users long-polling one chat server x {rounds} rounds: delivery p50 "
                  f"{percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, max {latencies[-1]:.1f} ms; "
                  f"chat RSS {before / 1024:.1f} MiB -> {during / 1024:.1f} MiB while they wait; "
                  f"broker connections while they wait: {conns}", flush=True)
        finally:
            for process in (chat, broker):
                if process is not None:
                    process.terminate()
                    process.wait()


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    binaries = sys.argv[3:]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * count + 1000), hard))
    if not binaries:
        subprocess.run(["cargo", "build", "--release", "-p", "runnel"], cwd=ROOT, check=True)
        binaries = [os.path.join(ROOT, "target/release/runnel")]
    for binary in binaries:
        run_binary(binary, count, rounds)


if __name__ == "__main__":
    main()
