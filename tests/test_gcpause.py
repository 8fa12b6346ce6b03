"""The collector pause around bulk builds: off inside, back as it was after, whatever happens."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from monitor.gcpause import collector_paused


@pytest.fixture(autouse=True)
def collector_running() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_collector_paused_turns_the_collector_back_on_after_the_block_even_on_error() -> None:
    with pytest.raises(ValueError), collector_paused():
        assert not gc.isenabled()
        raise ValueError
    assert gc.isenabled()


def test_collector_paused_leaves_a_collector_that_was_off_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_collector_paused_nested_blocks_turn_it_on_once_the_outer_one_ends() -> None:
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
