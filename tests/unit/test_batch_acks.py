"""The batched consumer's acks (``shared/messaging/batch.py``): one ``multiple`` ack only
when it acks nothing but the batch — other batches, and messages being retried or
dead-lettered, hold tags on the same channel — and each message on its own otherwise."""

import kombu
import pytest

from shared.messaging.batch import MAX_BATCH, HandleEvents, _BatchConsumer


class FakeChannel:
    """What kombu's Message needs of a py-amqp channel; records the acks sent."""

    def __init__(self):
        self.acks: list[tuple[int, bool]] = []
        self.connection = object()
        self.is_open = True
        self.no_ack_consumers = None

    def basic_ack(self, delivery_tag, multiple=False):
        self.acks.append((delivery_tag, multiple))


def consumer() -> _BatchConsumer:
    return _BatchConsumer("amqp://guest:guest@localhost:5672/", queues=[])


def deliver(core: _BatchConsumer, channel: FakeChannel, *tags: int) -> list[kombu.Message]:
    """Messages as the consumer saw them arrive (unsettled until acked)."""
    core.on_message = lambda body, message: None
    messages = []
    for tag in tags:
        message = kombu.Message(body=b"{}", delivery_tag=tag, channel=channel)
        core._on_raw_message(message)
        messages.append(message)
    return messages


def test_a_batch_holding_every_unsettled_tag_up_to_its_highest_is_acked_once_with_multiple():
    core, channel = consumer(), FakeChannel()
    batch = deliver(core, channel, 1, 2, 3)
    deliver(core, channel, 4)  # arrived later: above the batch, untouched by its ack

    core.ack_many(batch)

    assert channel.acks == [(3, True)]
    assert all(message.acknowledged for message in batch)
    assert core.outstanding[channel] == {4}


def test_a_batch_above_another_batch_in_flight_is_acked_message_by_message():
    core, channel = consumer(), FakeChannel()
    first = deliver(core, channel, 1, 2, 3)  # another worker's batch, not yet committed
    second = deliver(core, channel, 4, 5, 6)

    core.ack_many(second)

    assert channel.acks == [(4, False), (5, False), (6, False)]
    assert not any(message.acknowledged for message in first)
    assert core.outstanding[channel] == {1, 2, 3}

    core.ack_many(first)  # now the lowest: one multiple ack, acking nothing twice
    assert channel.acks[-1] == (3, True)
    assert channel not in core.outstanding


def test_a_lower_message_being_retried_keeps_a_batch_from_a_multiple_ack():
    core, channel = consumer(), FakeChannel()
    held, *batch = deliver(core, channel, 7, 8, 9)  # 7: its retry copy not yet confirmed

    core.ack_many(batch)

    assert channel.acks == [(8, False), (9, False)]
    assert core.outstanding[channel] == {held.delivery_tag}


def test_interleaved_batches_never_ack_each_others_messages():
    core, channel = consumer(), FakeChannel()
    messages = deliver(core, channel, 1, 2, 3, 4, 5, 6)
    odd, even = messages[0::2], messages[1::2]

    core.ack_many(even)  # 2, 4, 6 with 1, 3, 5 unsettled below them
    core.ack_many(odd)  # 1, 3, 5: 6 is settled, so only the batch is at or below 5

    assert channel.acks == [(2, False), (4, False), (6, False), (5, True)]


def test_settled_messages_no_longer_count_as_outstanding():
    core, channel = consumer(), FakeChannel()
    retried, *batch = deliver(core, channel, 1, 2, 3)
    core.ack_message(retried)  # its retry copy was confirmed: acked on its own

    core.ack_many(batch)

    assert channel.acks == [(1, False), (3, True)]


def test_a_batch_spanning_a_reconnect_acks_each_channel_on_its_own():
    core, old, new = consumer(), FakeChannel(), FakeChannel()
    before = deliver(core, old, 5, 6)
    after = deliver(core, new, 1, 2)

    core.ack_many(before + after)

    assert old.acks == [(6, True)]
    assert new.acks == [(2, True)]


def test_the_tags_of_a_closed_channel_are_forgotten():
    core, old, new = consumer(), FakeChannel(), FakeChannel()
    deliver(core, old, 1, 2)
    old.is_open = False  # the connection was lost: the broker took them back
    batch = deliver(core, new, 1, 2)

    core.ack_many(batch)

    assert old not in core.outstanding and new not in core.outstanding
    assert old.acks == [] and new.acks == [(2, True)]


def test_an_ack_lost_with_the_connection_is_not_an_error():
    core, channel = consumer(), FakeChannel()
    batch = deliver(core, channel, 1, 2)

    def lost(delivery_tag, multiple=False):
        raise ConnectionResetError("gone")

    channel.basic_ack = lost
    core.ack_many(batch)  # logged; the broker redelivers, the inbox drops the copies

    assert channel not in core.outstanding


@pytest.mark.parametrize("size", [0, -1, MAX_BATCH + 1, True, 2.5, "10"])
def test_a_batch_size_outside_one_to_the_maximum_is_refused(size):
    with pytest.raises(ValueError, match="batch must be an integer"):
        HandleEvents("probe", "thing_happened", batch=size)


def test_a_concurrency_below_one_is_refused():
    with pytest.raises(ValueError, match="concurrency must be an integer"):
        HandleEvents("probe", "thing_happened", batch=10, concurrency=0)
