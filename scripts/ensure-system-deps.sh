#!/usr/bin/env bash
# Installs the real servers the integration tests start on 127.0.0.1 (nginx,
# HAProxy, ZooKeeper, etcd, Apache httpd and a JRE; openssl for test certificates) from Debian's packages when they are missing.
set -euo pipefail
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
command -v java >/dev/null || missing+=(default-jre-headless)
# ZooKeeper's TLS port (Netty) needs netty-codec, which Debian's zookeeper.jar manifest
# omits; the TLS tests make their CA and certificates with openssl.
[ -f /usr/share/java/netty-codec.jar ] || missing+=(libnetty-java)
command -v openssl >/dev/null || missing+=(openssl)
# etcd 3.4.23 in Debian 12 (etcd-server); the tests run it on 127.0.0.1 random ports
command -v etcd >/dev/null || missing+=(etcd-server)
# Apache httpd 2.4 (mod_proxy_balancer live tests, tests/_apache.py runs its own -DFOREGROUND server)
command -v apache2 >/dev/null || [ -x /usr/sbin/apache2 ] || missing+=(apache2)
# `ip netns` / veth for the partition tests (tests/_netns.py)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-system-deps: missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "ensure-system-deps: apt-get install ${missing[*]}"
# A policy-rc.d answering 101 keeps the packages' services (apache2 on port 80, ...) from starting at all.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start system services we do not use; stop them so the
# tests own their ports.
for svc in nginx haproxy zookeeper etcd apache2; do
  (command -v service >/dev/null && service "$svc" stop) >/dev/null 2>&1 || true
done
