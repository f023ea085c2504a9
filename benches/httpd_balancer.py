# SPDX-License-Identifier: Apache-2.0
"""HttpdBalancer (Python-level, docs/apache.md §7): one pick (acquire + release)
of byrequests / bybusyness and a sticky-cookie pick, against the compiled
fastroute.SmoothWeightedRoundRobin pick, as ratios within one run.

Run: .venv/bin/python benches/httpd_balancer.py [N]
"""
import sys

import fastroute as fr
from request_path import pair  # benches/ is sys.path[0] when run as a script

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000


def conf(n, proxyset):
    members = "".join(f"  BalancerMember http://10.0.0.{i}:8080 route=r{i} loadfactor={1 + i % 3}\n"
                      for i in range(n))
    return f'<Proxy "balancer://b">\n{members}  ProxySet {proxyset}\n</Proxy>\n'


def main():
    print(f"{'case':<34}{'members':>8}{'ns/pick':>10}{'baseline ns':>13}{'ratio':>8}")
    for n in (4, 16, 64):
        names = [f"http://10.0.0.{i}:8080" for i in range(n)]
        base = fr.SmoothWeightedRoundRobin(names, [1 + i % 3 for i in range(n)], health="none")
        cases = {
            "byrequests pick": (fr.load_apache(conf(n, "lbmethod=byrequests"), "b"), {}),
            "bybusyness pick": (fr.load_apache(conf(n, "lbmethod=bybusyness"), "b"), {}),
            "sticky cookie pick": (fr.load_apache(conf(n, "stickysession=SID"), "b"), {"cookie": "SID=abc.r1"}),
        }
        for label, (sel, kw) in cases.items():
            def run_base():
                for _ in range(N):
                    base.pick()

            def run():
                for _ in range(N):
                    sel.pick(**kw)
            b, t = pair(run_base, run)
            print(f"{label:<34}{n:>8}{t / N * 1e9:>10.0f}{b / N * 1e9:>13.0f}{t / b:>8.1f}")


if __name__ == "__main__":
    main()
