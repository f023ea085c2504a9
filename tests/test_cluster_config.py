# SPDX-License-Identifier: Apache-2.0
"""The cluster TOML format: parsing, defaults, and errors that name the problem."""
import pytest

from fastroute.cluster import parse_cluster
from fastroute.membership import Member, NoServingMemberError, Snapshot

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
    assert isinstance(spec, Snapshot) and spec.epoch == 0
    assert spec.algorithm == "jump"
    assert spec.members[0] == Member("a", 1.0, None, "up", {})
    assert spec.members[1].address == "127.0.0.1:9001" and spec.members[1].metadata == {"zone": "z1"}
    assert dict(spec.states) == {"a": "up", "b": "up", "c": "backup", "d": "down"}
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
        Snapshot((Member("a"),), 0, algorithm="nope").build_placement()
    with pytest.raises(ValueError, match="no node is serving"):
        Snapshot((Member("a", state="down"),), 0, algorithm="jump").build_placement()
    with pytest.raises(ValueError, match="JumpHash cannot weight nodes"):
        Snapshot((Member("a", 1), Member("b", 2)), 0, algorithm="jump").build_placement()


def test_the_former_spec_classes_still_build_members_with_a_warning():
    import fastroute.cluster

    with pytest.warns(DeprecationWarning, match="NodeSpec"):
        node_spec = fastroute.cluster.NodeSpec
    with pytest.warns(DeprecationWarning, match="ClusterSpec"):
        cluster_spec = fastroute.cluster.ClusterSpec
    assert node_spec("a", 2, backup=True) == Member("a", 2.0, state="backup")
    assert node_spec("a", backup=True, down=True).state == "down"
    spec = cluster_spec("ring", (node_spec("a"), node_spec("b")))
    assert spec.same_content(parse_cluster('algorithm = "ring"\n[[nodes]]\nname = "a"\n[[nodes]]\nname = "b"\n'))
    with pytest.raises(AttributeError):
        fastroute.cluster.Nodespec


BACKUPS_ONLY = """
algorithm = "ring"
[[nodes]]
name = "a"
down = true
[[nodes]]
name = "b"
weight = 0
[[nodes]]
name = "c"
backup = true
[[nodes]]
name = "d"
backup = true
weight = 2
"""


def test_no_primary_serving_falls_back_to_the_backups_on_every_path():
    """docs/cluster.md §5.1: the cluster file path used to refuse this; followers fell back."""
    from fastroute.membership import build_placement

    spec = parse_cluster(BACKUPS_ONLY)
    assert spec.serving == () and [m.name for m in spec.placement_members] == ["c", "d"]
    placement = spec.build_placement()
    assert placement.nodes == ("c", "d") and placement.weights == (1.0, 2.0)
    same = build_placement(spec.members, "ring", {})
    assert same.fingerprint() == placement.fingerprint()
    with pytest.raises(NoServingMemberError, match="no node is serving"):
        parse_cluster(BACKUPS_ONLY.replace("backup = true", "down = true")).build_placement()


def test_a_primary_of_weight_zero_takes_no_keys_and_is_left_out():
    spec = parse_cluster('algorithm = "ring"\n[[nodes]]\nname = "a"\n[[nodes]]\nname = "b"\nweight = 0\n')
    assert spec.build_placement().nodes == ("a",)


def test_node_names_may_hold_a_slash_but_not_unjson_metadata():
    spec = parse_cluster('algorithm = "nginx_chash"\n[[nodes]]\nname = "unix:/run/app.sock"\n')
    assert spec.build_placement().nodes == ("unix:/run/app.sock",)
    with pytest.raises(ValueError, match=r"nodes\[0\]: .*metadata"):
        parse_cluster('algorithm = "ring"\n[[nodes]]\nname = "a"\n[nodes.metadata]\nsince = 2024-01-01\n')


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
