# SPDX-License-Identifier: Apache-2.0
"""The cluster TOML format: parsing, defaults, and errors that name the problem."""
import pytest

from fastroute.cluster import ClusterSpec, NodeSpec, parse_cluster

GOOD = """
algorithm = "jump"

[[nodes]]
name = "a"

[[nodes]]
name = "b"
weight = 1
address = "127.0.0.1:9001"
[nodes.metadata]
zone = "z1"

[[nodes]]
name = "c"
backup = true

[[nodes]]
name = "d"
down = true
"""


def test_parse_and_defaults():
    spec = parse_cluster(GOOD)
    assert spec.algorithm == "jump"
    assert spec.nodes[0] == NodeSpec("a", 1.0, None, False, False, {})
    assert spec.nodes[1].address == "127.0.0.1:9001" and spec.nodes[1].metadata == {"zone": "z1"}
    assert [n.name for n in spec.serving] == ["a", "b"]
    assert spec.build_placement().nodes == ("a", "b")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("algorithm = 'jump'", "at least one [[nodes]]"),
        ("[[nodes]]\nname='a'", "'algorithm'"),
        ("algorithm='jump'\nnodez=1\n[[nodes]]\nname='a'", "unknown top-level keys ['nodez']"),
        ("algorithm='jump'\n[[nodes]]\nname='a'\nwieght=2", "nodes[0]: unknown keys ['wieght']"),
        ("algorithm='jump'\n[[nodes]]\nname='a'\n[[nodes]]\nname='a'", "duplicate node name 'a'"),
        ("algorithm='jump'\n[[nodes]]\nname='a'\nweight=-1", "'weight' must be a finite number >= 0"),
        ("algorithm='jump'\n[[nodes]]\nname='a'\nweight=nan", "'weight' must be a finite number >= 0"),
        ("algorithm='jump'\n[[nodes]]\nname=''", "'name'"),
        ("algorithm='jump'\n[[nodes]]\nname='a'\nbackup='yes'", "'backup' must be true or false"),
        ("algorithm = [", "not valid TOML"),
    ],
)
def test_errors_name_the_problem(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_cluster(text, source="c.toml")
    assert fragment in str(info.value)
    assert "c.toml" in str(info.value)


def test_build_placement_errors():
    with pytest.raises(ValueError, match="unknown placement 'nope'"):
        ClusterSpec("nope", (NodeSpec("a"),)).build_placement()
    with pytest.raises(ValueError, match="no node is serving"):
        ClusterSpec("jump", (NodeSpec("a", down=True),)).build_placement()
    with pytest.raises(ValueError, match="JumpHash cannot weight nodes"):
        ClusterSpec("jump", (NodeSpec("a", 1), NodeSpec("b", 2))).build_placement()


def test_params_reach_the_placement_and_typos_are_errors():
    spec = parse_cluster("algorithm='maglev'\n[params]\ntable_size=17\n[[nodes]]\nname='a'\n[[nodes]]\nname='b'\nweight=2")
    placement = spec.build_placement()
    assert type(placement).__name__ == "Maglev" and placement.table_size == 17
    assert placement.weights == (1.0, 2.0)
    bad = parse_cluster("algorithm='ring'\n[params]\npoints_per_wieght=10\n[[nodes]]\nname='a'")
    with pytest.raises(ValueError, match="params: .*points_per_wieght"):
        bad.build_placement()


def test_the_registry_lists_every_placement_class_statically():
    import fastroute.placement
    from fastroute.cluster import PLACEMENTS

    classes = {n for n in fastroute.placement.__all__ if not n.startswith("MAX")}
    built = {kind: type(factory(["a", "b"], [1.0, 1.0], {})).__name__ for kind, factory in PLACEMENTS.items()}
    assert set(built.values()) == classes, (sorted(classes - set(built.values())), built)
    assert built["nginx_chash"] == "NginxConsistentHash"
