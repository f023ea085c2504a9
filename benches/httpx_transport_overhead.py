# SPDX-License-Identifier: Apache-2.0
"""What fastroute.httpx adds per request (docs/checks.md §5), same run:

1. loopback: a bare httpx.Client against a keep-alive HTTP server on
   127.0.0.1 (its own process) vs the same client through FastrouteTransport
   (RoundRobin over one node), rounds interleaved, median of the rounds;
2. in memory: httpx.MockTransport bare vs wrapped, through httpx.Client (also
   with the balancer over a HealthView, so the view's breaker and budget apply);
3. transport only: handle_request on one prebuilt request, MockTransport
   bare vs wrapped — only the transport's own work (choose, rewrite,
   release) differs; the loopback noise (~100 µs a request) hides a few µs.
Each figure is the fastest of interleaved rounds (the least disturbed by the
other processes on a shared machine).

Run: .venv/bin/python benches/httpx_transport_overhead.py [requests_per_round] [rounds]
"""
import asyncio
import multiprocessing
import sys
import time

import httpx

import fastroute
from fastroute.httpx import FastrouteTransport

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def _serve(port_queue):
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_queue.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def per_request(client, url, n):
    t = time.perf_counter()
    for _ in range(n):
        client.get(url)
    return (time.perf_counter() - t) / n


def compare(make_bare, make_routed, url, n, rounds):
    bare, routed = make_bare(), make_routed()
    for c in (bare, routed):
        per_request(c, url, 200)  # warm up: connection open, code paths hot
    b, r = [], []
    for _ in range(rounds):
        b.append(per_request(bare, url, n))
        r.append(per_request(routed, url, n))
    bare.close()
    routed.close()
    return min(b), min(r)


def main():
    queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(queue,), daemon=True)
    server.start()
    port = queue.get(timeout=10)
    origin = f"http://127.0.0.1:{port}"
    try:
        lb = fastroute.RoundRobin(["n"])
        b, r = compare(lambda: httpx.Client(), lambda: httpx.Client(
            transport=FastrouteTransport(lb, urls={"n": origin})), origin + "/x", N, ROUNDS)
        print(f"loopback  bare httpx {b * 1e6:8.1f} µs/req   via FastrouteTransport {r * 1e6:8.1f} µs/req   "
              f"overhead {(r - b) * 1e6:+6.1f} µs ({r / b:.3f}x)")
    finally:
        server.terminate()
        server.join()

    def ok(request):
        return httpx.Response(200, content=b"ok")

    lb = fastroute.RoundRobin(["n"])
    b, r = compare(lambda: httpx.Client(transport=httpx.MockTransport(ok)), lambda: httpx.Client(
        transport=FastrouteTransport(lb, urls={"n": "http://127.0.0.1:1"}, transport=httpx.MockTransport(ok))),
        "http://svc/x", N * 5, ROUNDS)
    print(f"in memory bare httpx {b * 1e6:8.1f} µs/req   via FastrouteTransport {r * 1e6:8.1f} µs/req   "
          f"overhead {(r - b) * 1e6:+6.1f} µs ({r / b:.3f}x)")
    over_view = fastroute.RoundRobin(upstream=fastroute.HealthView(["n"]))  # + the view's breaker and budget
    b, r = compare(lambda: httpx.Client(transport=httpx.MockTransport(ok)), lambda: httpx.Client(
        transport=FastrouteTransport(over_view, urls={"n": "http://127.0.0.1:1"}, transport=httpx.MockTransport(ok))),
        "http://svc/x", N * 5, ROUNDS)
    print(f"in memory, over a HealthView (breaker + retry budget): bare {b * 1e6:8.1f} µs/req   "
          f"routed {r * 1e6:8.1f} µs/req   overhead {(r - b) * 1e6:+6.1f} µs ({r / b:.3f}x)")

    inner = httpx.MockTransport(ok)
    wrapped = FastrouteTransport(fastroute.RoundRobin(["n"]), urls={"n": "http://127.0.0.1:1"}, transport=inner)
    request = httpx.Request("GET", "http://svc/x?y=1")

    def loop(transport, n):
        t = time.perf_counter()
        for _ in range(n):
            transport.handle_request(request).close()  # the node is released when the body is closed
        return (time.perf_counter() - t) / n

    b, r = [], []
    for _ in range(ROUNDS):
        b.append(loop(inner, N * 5))
        r.append(loop(wrapped, N * 5))
    b, r = min(b), min(r)
    print(f"transport handle_request: MockTransport {b * 1e6:6.1f} µs   wrapped {r * 1e6:6.1f} µs   "
          f"overhead {(r - b) * 1e6:+6.1f} µs")


if __name__ == "__main__":
    main()
