"""
The example programs of Twisted's "PB Copyable" document (C{examples/}), run
as the document runs them, each program in a process of its own over
loopback TCP: they print what the document says they print, on pbfast's
broker at both ends, with stock Twisted's at either end, and as programs
written against C{twisted.spread} that add C{pbfast.install()}.
"""

from __future__ import annotations

import pytest

from pbfast import _examples


@pytest.mark.parametrize("example", _examples.PAIRS, ids=lambda example: example.name)
@pytest.mark.parametrize(
    ("receiverRuns", "senderRuns"),
    [
        (_examples.PBFAST, _examples.PBFAST),
        (_examples.STOCK, _examples.PBFAST),
        (_examples.PBFAST, _examples.STOCK),
        (_examples.INSTALLED, _examples.INSTALLED),
    ],
    ids=["pbfast-pbfast", "stock-receiver", "stock-sender", "installed-both"],
)
def test_example_prints_what_the_document_says(
    example: _examples.Example, receiverRuns: str, senderRuns: str
) -> None:
    outcome = _examples.run(example, receiverRuns, senderRuns)
    assert outcome.receiverPrinted == list(example.receiverPrints), outcome.errors
    assert outcome.senderPrinted == list(example.senderPrints), outcome.errors
