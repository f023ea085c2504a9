# SPDX-License-Identifier: Apache-2.0
"""Compatibility layers that reproduce where other load balancers send a key.

`fastroute.compat.envoy`: Envoy's RING_HASH and MAGLEV tables.
"""
