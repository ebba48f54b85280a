"""
The example programs of Twisted's "PB Copyable" document (C{examples/}), run
as the document runs them, each program in a process of its own over
loopback TCP: they print what the document says they print, on pbfast's
broker at both ends and with stock Twisted's at either end.
"""

from __future__ import annotations

import pytest

from pbfast import _examples


@pytest.mark.parametrize("example", _examples.PAIRS, ids=lambda example: example.name)
@pytest.mark.parametrize(
    ("receiverStock", "senderStock"),
    [(False, False), (True, False), (False, True)],
    ids=["pbfast-pbfast", "stock-receiver", "stock-sender"],
)
def test_example_prints_what_the_document_says(
    example: _examples.Example, receiverStock: bool, senderStock: bool
) -> None:
    outcome = _examples.run(example, receiverStock, senderStock)
    assert outcome.receiverPrinted == list(example.receiverPrints), outcome.errors
    assert outcome.senderPrinted == list(example.senderPrints), outcome.errors
