from precache.bridge.acks import AckWindow


def test_in_order_confirmations_ack_each_tag() -> None:
    window = AckWindow()
    for tag in (1, 2, 3):
        window.add(tag)
    assert [window.done(t) for t in (1, 2, 3)] == [1, 2, 3]
    assert len(window) == 0


def test_a_gap_holds_back_later_tags_until_it_is_filled() -> None:
    window = AckWindow()
    for tag in (1, 2, 3, 4):
        window.add(tag)
    assert window.done(3) is None
    assert window.done(2) is None
    assert window.done(1) == 3
    assert len(window) == 1
    assert window.done(4) == 4
