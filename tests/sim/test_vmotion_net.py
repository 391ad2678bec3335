"""The vMotion network: pre-copies share a host's link as they come and go."""

from __future__ import annotations

import pytest
import simpy

from vvolguard.sim.vmotion_net import VmotionNetwork


def _ends(env: simpy.Environment, net: VmotionNetwork, moves: list[tuple[float, str, str, float]]):
    """Start each (at, source, dest, gbit) transfer at its time; return when each ended."""
    ended: dict[int, float] = {}

    def one(i: int, at: float, src: str, dst: str, gbit: float):
        yield env.timeout(at)
        yield env.process(net.transfer(src, dst, gbit))
        ended[i] = env.now

    for i, move in enumerate(moves):
        env.process(one(i, *move))
    env.run()
    return [ended[i] for i in range(len(moves))]


def test_a_transfer_speeds_up_when_the_other_on_its_link_ends() -> None:
    env = simpy.Environment()
    net = VmotionNetwork(env, link_gbps=10.0, stream_gbps=9.0)
    big, small = _ends(env, net, [(0.0, "esx01", "esx02", 90.0), (0.0, "esx01", "esx03", 10.0)])
    # both at 5 Gbps until the small one ends (10 Gbit at 5 = 2 s); then the big one alone at
    # the stream cap: 80 Gbit left at 9 Gbps. A rate fixed at the start would end it at 18 s.
    assert small == pytest.approx(2.0)
    assert big == pytest.approx(2.0 + 80.0 / 9.0)


def test_the_busier_link_sets_the_share_and_a_late_start_slows_the_others() -> None:
    env = simpy.Environment()
    net = VmotionNetwork(env, link_gbps=10.0, stream_gbps=9.0)
    # esx02 receives from two sources: both share its link; a third transfer between other
    # hosts is not slowed by them.
    a, b, c = _ends(
        env,
        net,
        [(0.0, "esx01", "esx02", 50.0), (0.0, "esx03", "esx02", 50.0), (0.0, "esx04", "esx05", 45.0)],
    )
    assert a == pytest.approx(10.0) and b == pytest.approx(10.0)
    assert c == pytest.approx(5.0)
    # a transfer that joins halfway takes half the link from then on
    env = simpy.Environment()
    net = VmotionNetwork(env, link_gbps=10.0, stream_gbps=10.0)
    first, late = _ends(env, net, [(0.0, "esx01", "esx02", 100.0), (5.0, "esx01", "esx03", 25.0)])
    assert late == pytest.approx(10.0)  # 25 Gbit at 5 Gbps from t=5
    assert first == pytest.approx(12.5)  # 50 alone, 25 shared, 25 alone again
    assert net.transfers_on("esx01") == 0
