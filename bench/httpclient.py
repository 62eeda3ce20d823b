"""A small keep-alive HTTP client and a bounded load generator, for 127.0.0.1 only.

http.client rather than requests: the client shares two cores with the servers it measures, and a lighter
client takes less of them (the same client measures each figure and its floor).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

HOST = "127.0.0.1"


class Client:
    """One keep-alive connection to one local port."""

    def __init__(self, port: int, *, token: str | None = None, timeout: float = 60.0):
        self.port = port
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, bytes]:
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = content_type
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError):
                # The server closed an idle keep-alive connection: the request never reached a view.
                self.close()
                if attempt:
                    raise
                continue
            if response.will_close:
                self.close()
            return response.status, data
        raise AssertionError("unreachable")

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)


@dataclass
class LoadResult:
    statuses: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def post_load(port: int, path: str, bodies: Sequence[bytes], *, threads: int, max_seconds: float,
              token: str | None = None) -> LoadResult:
    """POST each body once from `threads` keep-alive connections; stop when done or after max_seconds."""
    result = LoadResult()
    lock = threading.Lock()
    position = [0]
    deadline = time.perf_counter() + max_seconds

    def run() -> None:
        client = Client(port, token=token, timeout=max_seconds + 30)
        try:
            while True:
                with lock:
                    i = position[0]
                    if i >= len(bodies) or time.perf_counter() >= deadline:
                        return
                    position[0] = i + 1
                t0 = time.perf_counter()
                try:
                    status, _ = client.request("POST", path, bodies[i])
                except OSError:
                    with lock:
                        result.errors += 1
                    client.close()
                    continue
                dt = (time.perf_counter() - t0) * 1000.0
                with lock:
                    result.statuses[status] += 1
                    result.latencies_ms.append(dt)
        finally:
            client.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=run, name=f"load-{i}", daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=max_seconds + 60)
    result.seconds = time.perf_counter() - started
    return result
