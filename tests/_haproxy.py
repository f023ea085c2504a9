# SPDX-License-Identifier: Apache-2.0
"""Runs a real HAProxy on 127.0.0.1: a frontend in front of backend `up`, and
one listener per server that answers the server's name."""
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests._nginx import Nginx, stop_process, wait_listening

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

DEFAULTS = """global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
"""


def haproxy_config(backend_lines, servers, proxy_port):
    """servers: [(name, port)]; backend_lines: `balance` / `hash-type` / server lines."""
    listeners = "".join(
        f"listen {name}-answer\n    bind 127.0.0.1:{port}\n"
        f"    http-request return status 200 content-type text/plain string {name}\n"
        for name, port in servers)
    return (DEFAULTS + f"frontend fe\n    bind 127.0.0.1:{proxy_port}\n    default_backend up\n"
            + "backend up\n" + "".join(f"    {line}\n" for line in backend_lines) + listeners)


class HAProxy:
    def __init__(self, config: str, proxy_port: int):
        self.dir = Path(tempfile.mkdtemp(prefix="fastroute-haproxy-"))
        self.proxy_port = proxy_port
        conf = self.dir / "haproxy.cfg"
        conf.write_text(config)
        check = subprocess.run([HAPROXY, "-c", "-f", str(conf)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy rejected the config: {check.stdout}{check.stderr}")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(conf)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        try:
            wait_listening(self.proc, proxy_port, "haproxy")
        except RuntimeError:
            self.stop()
            raise

    fetch_many = Nginx.fetch_many

    def stop(self):
        stop_process(self.proc, self.dir)


def haproxy_version() -> str:
    return subprocess.run([HAPROXY, "-v"], capture_output=True, text=True).stdout.splitlines()[0]
