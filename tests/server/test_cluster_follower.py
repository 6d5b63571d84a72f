"""`follower_of`: the embedded server answering as a member of upstream's cluster mode."""

import json

import pytest


@pytest.mark.parametrize(
    ("cmd", "arg"),
    [
        ("l", "0"),
        ("sl", "0 2"),
        ("e", ""),
        ("se", "2"),
        ("w", "1"),
        ("sw", "1"),
        ("r", "0" * 32),
        ("sr", "0" * 32),
        ("n", "0" * 32),
        ("sn", "0" * 32),
    ],
)
def test_a_follower_refuses_what_changes_state_and_names_the_leader(
    dflock_server_factory, wire, cmd, arg
):
    follower = dflock_server_factory(follower_of="127.0.0.1:7777")
    assert wire(follower.address).ask(cmd, "k", arg) == "error_not_leader 127.0.0.1:7777"


def test_a_follower_answers_ping_stats_and_parse_errors_itself(dflock_server_factory, wire):
    follower = dflock_server_factory(follower_of="127.0.0.1:7777", compat="cluster")
    w = wire(follower.address)
    assert w.ask("ping") == "ok"
    assert w.ask("l", "a b", "0") == "error"  # parsed before it is refused
    stats = json.loads(w.ask("stats")[3:])
    assert stats["cluster"]["role"] == "follower"
    assert stats["cluster"]["leader_addr"] == "127.0.0.1:7777"
    assert "signal_channels" not in stats


def test_without_a_known_leader_the_refusal_names_none(dflock_server_factory, wire):
    follower = dflock_server_factory(follower_of="")
    assert wire(follower.address).ask("l", "k", "0") == "error_not_leader"


def test_a_cluster_leader_says_so_in_stats(dflock_server_factory, wire):
    leader = dflock_server_factory(compat="cluster")
    w = wire(leader.address)
    assert w.ask("l", "k", "0").startswith("ok ")
    cluster = json.loads(w.ask("stats")[3:])["cluster"]
    assert cluster["role"] == "leader"
    assert cluster["leader_addr"] == leader.address


def test_serve_command_takes_compat_and_follower_flags(dflock_server_process):
    follower = dflock_server_process("--follower-of", "127.0.0.1:7777", compat="1.10")
    from helpers import Wire

    w = Wire(follower.address)
    try:
        assert w.ask("l", "k", "0") == "error_not_leader 127.0.0.1:7777"
        assert w.ask("ping") == "error"  # and v1.10's other answers
    finally:
        w.close()
