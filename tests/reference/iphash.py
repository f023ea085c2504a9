# SPDX-License-Identifier: Apache-2.0
"""Reference: nginx ip_hash (ngx_http_upstream_ip_hash_module behaviour)."""
import ipaddress


def address_bytes(key) -> bytes:
    if isinstance(key, int):
        return ipaddress.IPv4Address(key).packed[:3]
    text = key.decode() if isinstance(key, bytes) else key
    addr = ipaddress.ip_address(text.strip())
    return addr.packed[:3] if addr.version == 4 else addr.packed


class IPHashRef:
    def __init__(self, weights):
        self.weights = list(weights)
        self.total = sum(weights)

    @staticmethod
    def fold(h, addr):
        for b in addr:
            h = (h * 113 + b) % 6271
        return h

    def peer_for(self, h):
        w = h % self.total
        i = 0
        while w >= self.weights[i]:
            w -= self.weights[i]
            i += 1
        return i

    def lookup(self, key) -> int:
        return self.peer_for(self.fold(89, address_bytes(key)))

    def replicas(self, key, n) -> list[int]:
        addr, out, h = address_bytes(key), [], 89
        for _ in range(21):
            h = self.fold(h, addr)
            p = self.peer_for(h)
            if p not in out:
                out.append(p)
                if len(out) == n:
                    return out
        start = out[0]
        for k in range(1, len(self.weights)):
            p = (start + k) % len(self.weights)
            if self.weights[p] > 0 and p not in out:
                out.append(p)
                if len(out) == n:
                    break
        return out
