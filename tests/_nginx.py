# SPDX-License-Identifier: Apache-2.0
"""Runs a real nginx on 127.0.0.1 for live-agreement tests: one proxy server
in front of `upstream`, and backend servers that answer their own address."""
import http.client
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


PORT_ATTEMPTS = 5


class PortClash(RuntimeError):
    """A port picked as free was taken before the server bound it."""


def free_ports(n):
    """n distinct ports free right now; the kernel may hand one out again before
    a server binds it, so start servers through `start_on_free_ports`."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def start_on_free_ports(n: int, start):
    """Calls start(ports) with n free ports; on a port clash, again with new ports."""
    for attempt in range(PORT_ATTEMPTS):
        try:
            return start(free_ports(n))
        except PortClash:
            if attempt == PORT_ATTEMPTS - 1:
                raise


def wait_listening(proc, port: int, what: str) -> None:
    """Waits until `port` accepts connections; fails if the server exits or takes > 10 s."""
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode()
            raise (PortClash if "Address already in use" in err else RuntimeError)(f"{what} exited: {err}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    stop_process(proc)
    raise RuntimeError(f"{what} did not start listening in 10 s")


def stop_process(proc, workdir=None) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


class Nginx:
    def __init__(self, upstream_block: str, backend_ports, proxy_port: int, location_extra: str = ""):
        """backend_ports: nginx itself answers on these with its address; pass ()
        when the backends are tests/_backends.py servers. location_extra: more
        directives for the proxying location (e.g. proxy_next_upstream_tries)."""
        self.dir = Path(tempfile.mkdtemp(prefix="fastroute-nginx-"))
        self.proxy_port = proxy_port
        backends = "".join(
            f"  server {{ listen 127.0.0.1:{p}; location / {{ return 200 \"127.0.0.1:{p}\"; }} }}\n"
            for p in backend_ports)
        temp = "".join(f"  {d} {self.dir}/{d};\n" for d in (
            "client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path"))
        conf = (
            f"worker_processes 1;\ndaemon off;\npid {self.dir}/nginx.pid;\nerror_log {self.dir}/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n  access_log off;\n" + temp + upstream_block + "\n"
            f"  server {{ listen 127.0.0.1:{proxy_port}; location / {{ proxy_pass http://up; {location_extra} }} }}\n"
            + backends + "}\n")
        self.conf_path = self.dir / "nginx.conf"
        self.conf_path.write_text(conf)
        self.proc = subprocess.Popen([NGINX, "-p", str(self.dir), "-c", str(self.conf_path)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_listening(self.proc, proxy_port, "nginx")
        except RuntimeError:
            self.stop()
            raise

    def version(self) -> str:
        out = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
        return (out.stderr or out.stdout).strip()

    def fetch_many(self, paths, source_address=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=10, source_address=source_address)
        out = []
        for path in paths:
            conn.request("GET", path)
            resp = conn.getresponse()
            out.append(resp.read().decode())
            if resp.status != 200:
                raise RuntimeError(f"nginx answered {resp.status} for {path}")
        conn.close()
        return out

    def stop(self):
        stop_process(self.proc, self.dir)
