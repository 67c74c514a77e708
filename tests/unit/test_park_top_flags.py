"""``park top``'s flag rules (shared/tooling/top.py), as pure functions over samples."""

from shared.messaging.topology import build_topology
from shared.tooling.top import (
    ABSENT,
    DEAD_LETTERS,
    GROWING,
    NO_CONSUMER,
    Kinds,
    QueueStats,
    Sample,
    Watcher,
    outpaced,
    raise_flags,
    rising,
)

TOPOLOGY = build_topology(
    [("alpha", "probe", "thing_happened")],
    services=("alpha",),
    sources=("probe",),
    retry_delays=(1, 10),
)
KINDS = Kinds.of(TOPOLOGY)
WORK_QUEUE = "alpha.probe.thing_happened"
EVERY_QUEUE = (WORK_QUEUE, "alpha.dlq", "alpha.retry.1s", "alpha.retry.10s", "park.unrouted")


def queue(name, ready=0, unacked=0, consumers=1, publish=None, deliver=None):
    return QueueStats(name, ready, unacked, consumers, publish, deliver)


def sample(at, **overrides):
    """Every queue of TOPOLOGY present and quiet, except those overridden by name."""
    queues = {name: queue(name) for name in EVERY_QUEUE}
    for name, stats in overrides.items():
        queues[name.replace("__", ".")] = stats
    return Sample(at, queues)


def rules(flags, name):
    return [flag.rule for flag in flags if flag.queue == name]


def test_a_quiet_declared_park_with_consumers_raises_no_flag():
    assert raise_flags([sample(0)], KINDS) == []


def test_a_work_queue_without_consumer_is_flagged_even_when_empty():
    stats = queue(WORK_QUEUE, consumers=0)

    flags = raise_flags([Sample(0, {**sample(0).queues, WORK_QUEUE: stats})], KINDS)

    assert rules(flags, WORK_QUEUE) == [NO_CONSUMER]


def test_retry_dlq_and_unrouted_queues_need_no_consumer():
    queues = {name: queue(name, consumers=0) for name in EVERY_QUEUE if name != WORK_QUEUE}

    flags = raise_flags([Sample(0, {**queues, WORK_QUEUE: queue(WORK_QUEUE)})], KINDS)

    assert flags == []


def test_a_non_empty_dlq_is_flagged_with_its_depth():
    flags = raise_flags(
        [Sample(0, {**sample(0).queues, "alpha.dlq": queue("alpha.dlq", 2)})], KINDS
    )

    [flag] = flags
    assert (flag.queue, flag.rule) == ("alpha.dlq", DEAD_LETTERS)
    assert "2 dead letter" in flag.detail


def test_queues_of_the_topology_missing_from_the_broker_are_flagged_absent():
    flags = raise_flags([Sample(0, {"park.unrouted": queue("park.unrouted")})], KINDS)

    assert {(f.queue, f.rule) for f in flags} == {(WORK_QUEUE, ABSENT), ("alpha.dlq", ABSENT)}


def test_depth_rising_in_each_of_the_last_samples_is_growth():
    depths = [5, 9, 14]
    samples = [
        Sample(at, {**sample(at).queues, WORK_QUEUE: queue(WORK_QUEUE, ready=depth)})
        for at, depth in zip((0, 5, 10), depths, strict=True)
    ]

    flags = raise_flags(samples, KINDS, rising_samples=3)

    [flag] = flags
    assert flag.rule == GROWING and "5 → 9 → 14" in flag.detail


def test_depth_that_rose_then_held_is_not_growth():
    samples = [
        Sample(at, {**sample(at).queues, WORK_QUEUE: queue(WORK_QUEUE, ready=depth)})
        for at, depth in ((0, 5), (5, 9), (10, 9))
    ]

    assert raise_flags(samples, KINDS, rising_samples=3) == []


def test_one_rise_is_not_enough_when_three_rising_samples_are_asked_for():
    assert not rising([1, 2], 3)
    assert rising([7, 1, 2, 3], 3)
    assert not rising([1, 2, 3], 1)  # one sample cannot rise


def test_firm_work_queues_are_watched_for_growth_but_need_no_consumer():
    firm = "firm.zhengheng-law.work"
    samples = [
        Sample(at, {**sample(at).queues, firm: queue(firm, ready=depth, consumers=0)})
        for at, depth in ((0, 1), (5, 2), (10, 3))
    ]

    flags = raise_flags(samples, KINDS)

    assert rules(flags, firm) == [GROWING]


def test_publishing_faster_than_delivering_for_the_whole_window_is_growth():
    history = [
        (at, queue(WORK_QUEUE, ready=4, publish=10.0, deliver=6.0)) for at in (0, 10, 20, 30)
    ]

    assert outpaced(history, window=30)


def test_outpacing_watched_for_less_than_the_window_is_not_growth_yet():
    history = [(at, queue(WORK_QUEUE, ready=4, publish=10.0, deliver=6.0)) for at in (10, 20, 30)]

    assert not outpaced(history, window=30)


def test_outpacing_interrupted_within_the_window_is_not_growth():
    history = [
        (0, queue(WORK_QUEUE, ready=4, publish=10.0, deliver=6.0)),
        (15, queue(WORK_QUEUE, ready=4, publish=5.0, deliver=6.0)),
        (30, queue(WORK_QUEUE, ready=4, publish=10.0, deliver=6.0)),
    ]

    assert not outpaced(history, window=30)


def test_outpacing_with_nothing_waiting_is_not_growth():
    history = [(at, queue(WORK_QUEUE, publish=10.0, deliver=6.0)) for at in (0, 15, 30)]

    assert not outpaced(history, window=30)


def test_rates_without_statistics_never_count_as_outpacing():
    history = [(at, queue(WORK_QUEUE, ready=4, publish=None, deliver=None)) for at in (0, 30)]

    assert not outpaced(history, window=30)


def test_api_entries_with_missing_or_hostile_fields_read_as_zero():
    stats = QueueStats.from_api(
        {
            "name": "x",
            "messages_ready": "12",
            "messages_unacknowledged": -3,
            "consumers": True,
            "message_stats": {"publish_details": {"rate": "fast"}, "deliver_get_details": []},
        }
    )

    assert stats == QueueStats("x", 0, 0, 0, None, None)


def test_api_entries_are_read_with_their_rates():
    stats = QueueStats.from_api(
        {
            "name": "alpha.dlq",
            "messages_ready": 3,
            "messages_unacknowledged": 1,
            "consumers": 2,
            "message_stats": {
                "publish_details": {"rate": 1.5},
                "deliver_get_details": {"rate": 0},
            },
        }
    )

    assert stats == QueueStats("alpha.dlq", 3, 1, 2, 1.5, 0.0) and stats.depth == 4


def test_the_watcher_keeps_enough_history_for_a_slow_rise():
    depth = iter(range(1, 100))
    clock = iter(range(0, 1000, 20))

    def read():
        entries = [{"name": name, "consumers": 1} for name in EVERY_QUEUE]
        return [*entries[1:], {"name": WORK_QUEUE, "consumers": 1, "messages_ready": next(depth)}]

    watcher = Watcher(read, KINDS, rising_samples=3, rate_window=30, clock=lambda: next(clock))
    results = [watcher.sample()[1] for _ in range(6)]

    assert [rules(flags, WORK_QUEUE) for flags in results] == [[], [], *[[GROWING]] * 4]
    assert len(watcher.samples) <= 4
