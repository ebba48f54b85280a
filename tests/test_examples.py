"""
The example programs of Twisted's "PB Copyable" document (C{examples/}), run
as the document runs them, each program in a process of its own over
loopback TCP: they print what the document says they print, on pbfast's
broker at both ends, with stock Twisted's at either end, and as programs
written against C{twisted.spread} that add C{pbfast.install()}.
"""

from __future__ import annotations

import pytest

from pbfast.tools import examples_runner


@pytest.mark.parametrize("example", examples_runner.PAIRS, ids=lambda example: example.name)
@pytest.mark.parametrize(
    ("receiverRuns", "senderRuns"),
    [
        (examples_runner.PBFAST, examples_runner.PBFAST),
        (examples_runner.STOCK, examples_runner.PBFAST),
        (examples_runner.PBFAST, examples_runner.STOCK),
        (examples_runner.INSTALLED, examples_runner.INSTALLED),
    ],
    ids=["pbfast-pbfast", "stock-receiver", "stock-sender", "installed-both"],
)
def test_example_prints_what_the_document_says(
    example: examples_runner.Example, receiverRuns: str, senderRuns: str
) -> None:
    outcome = examples_runner.run(example, receiverRuns, senderRuns)
    assert outcome.receiver_printed == list(example.receiver_prints), outcome.errors
    assert outcome.sender_printed == list(example.sender_prints), outcome.errors
