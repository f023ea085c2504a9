# SPDX-License-Identifier: Apache-2.0
"""Runs a real Apache httpd 2.4 (Debian's apache2) on 127.0.0.1 for live-agreement
tests: one private ServerRoot / PidFile / Mutex / DefaultRuntimeDir per server,
`-DFOREGROUND`, a generated config with mod_proxy_balancer in front of one
balancer, stopped after. One child process (ServerLimit 1) so every request
goes through the same balancer lock as in fastroute's single-process model."""
from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.etree import ElementTree

from tests._nginx import stop_process, wait_listening

HTTPD = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"
_LOADED = ("mpm_event", "authz_core", "proxy", "proxy_http", "proxy_balancer", "slotmem_shm",
           "lbmethod_byrequests", "lbmethod_bybusyness", "lbmethod_bytraffic", "proxy_hcheck")

_NS = "{http://httpd.apache.org}"


class Apache:
    def __init__(self, balancer_text: str, balancer: str, port: int, *, extra: str = "",
                 proxy_pass_params: str = ""):
        """balancer_text: the `<Proxy balancer://NAME>` block (and ProxySet lines);
        requests to / go to balancer://NAME through `ProxyPass / balancer://NAME/ params`."""
        self.dir = Path(tempfile.mkdtemp(prefix="fastroute-httpd-"))
        os.chmod(self.dir, 0o755)
        self.port = port
        modules = "".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so\n" for m in _LOADED)
        conf = (
            f"ServerRoot {self.dir}\nPidFile {self.dir}/httpd.pid\nMutex file:{self.dir} default\n"
            f"DefaultRuntimeDir {self.dir}\nErrorLog {self.dir}/error.log\nLogLevel warn\n"
            f"Listen 127.0.0.1:{port}\nServerName 127.0.0.1\n{modules}"
            "User nobody\nGroup nogroup\n"
            "ServerLimit 1\nStartServers 1\nThreadLimit 64\nThreadsPerChild 64\nMaxRequestWorkers 64\n"
            "MinSpareThreads 1\nMaxSpareThreads 64\nKeepAlive Off\n"
            f"{balancer_text}\n{extra}\n"
            # balancer-manager's XML shows httpd's own per-member state (status, lbstatus, busy)
            "<Location /balancer-manager>\n  SetHandler balancer-manager\n</Location>\n"
            "ProxyPass /balancer-manager !\n"
            f"ProxyPass \"/\" \"balancer://{balancer}/\" {proxy_pass_params}\n")
        self.conf_path = self.dir / "httpd.conf"
        self.conf_path.write_text(conf)
        self.proc = subprocess.Popen([HTTPD, "-f", str(self.conf_path), "-DFOREGROUND"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_listening(self.proc, port, "apache2")
        except RuntimeError as exc:
            log = self.error_log()
            self.stop()
            raise RuntimeError(f"{exc}\n{log}") from None

    @staticmethod
    def version() -> str:
        return subprocess.run([HTTPD, "-v"], capture_output=True, text=True).stdout.splitlines()[0]

    def error_log(self) -> str:
        try:
            return (self.dir / "error.log").read_text()
        except OSError:
            return ""

    def get(self, path: str = "/", headers=None):
        """(status, body) of one GET on a fresh connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def members(self) -> dict[str, dict[str, str]]:
        """balancer-manager's view: member URL → {status, lbstatus, busy, elected, ...} (text)."""
        # a Referer naming this host, or balancer-manager ignores the query (safe_referer)
        status, body = self.get("/balancer-manager?xml=1", {"Referer": f"http://127.0.0.1:{self.port}/balancer-manager"})
        if status != 200:
            raise RuntimeError(f"balancer-manager answered {status}")
        root = ElementTree.fromstring(body)
        out = {}
        for worker in root.iter(_NS + "worker"):
            fields = {child.tag[len(_NS):]: (child.text or "") for child in worker}
            out[fields["name"]] = fields
        return out

    def stop(self):
        stop_process(self.proc, self.dir)
