"""
The broker, timed in memory (no reactor): an echo call of each payload of
C{pbfast.tools.payloads.BROKER_PAYLOADS}, through pbfast's broker and through Twisted's. Over
TCP, with the reactor: C{python -m pbfast bench --broker}.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.spread import pb as twisted_pb

from pbfast import pb
from pbfast.tools.broker_bench import InMemory
from pbfast.tools.payloads import BROKER_PAYLOADS

BROKERS = {"pbfast": pb, "twisted": twisted_pb}


@pytest.mark.parametrize("broker", list(BROKERS))
@pytest.mark.parametrize("payload", list(BROKER_PAYLOADS))
def test_echo_call(benchmark: Any, payload: str, broker: str) -> None:
    connection = InMemory(BROKERS[broker])
    value = BROKER_PAYLOADS[payload]()
    answer = benchmark(connection.call, value)
    if payload == "10 Copyables":
        assert [copy.__dict__ for copy in answer] == [copy.__dict__ for copy in value]
    else:
        assert answer == value
