"""
The example programs of Twisted's "PB Copyable: Passing Complex Types"
document (in C{pbfast/examples/}, also C{examples/} in the repository), run
as the document runs them -- a receiver, then a sender, each its own
process, over loopback TCP -- on pbfast's broker or on stock Twisted's, with
what each prints compared with what the document says it prints.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
"""The example programs' folder, C{pbfast/examples/}."""


@dataclass(frozen=True)
class Example:
    """A receiver and a sender, and the lines each prints (addresses as 0x...)."""

    name: str
    receiver: str
    sender: str
    receiver_prints: tuple[str, ...]
    sender_prints: tuple[str, ...]


PAIRS: tuple[Example, ...] = (
    Example(
        "copy",
        "copy_receiver.py",
        "copy_sender.py",
        (" got pond: <__main__.ReceiverPond object at 0x...>", "7 frogs"),
        ("7 frogs", "copy_sender.CopyPond", "pond arrived safe and sound"),
    ),
    Example(
        "copy2",
        "copy2_receiver.py",
        "copy2_sender.py",
        (" got pond: <copy2_classes.ReceiverPond object at 0x...>", " count 7"),
        ("count 7", "pond arrived safe and sound"),
    ),
    Example(
        "cache",
        "cache_receiver.py",
        "cache_sender.py",
        (
            " cache - sitting, er, setting ducks",
            "got pond: <cache_classes.SlaveDuckPond object at 0x...>",
            "[2] ducks:  ['one duck', 'two duck']",
            " cache - addDuck",
            "[3] ducks:  ['one duck', 'two duck', 'ugly duckling']",
            " cache - removeDuck",
            "[2] ducks:  ['two duck', 'ugly duckling']",
            "dropping pond",
        ),
        ("I have [2] ducks", "I have [3] ducks", "I have [2] ducks"),
    ),
)


STOCK = "stock Twisted"
PBFAST = "pbfast"
INSTALLED = "Twisted + pbfast.install()"
FLAGS = {STOCK: ["--twisted"], PBFAST: [], INSTALLED: ["--install"]}
"""How each end can run, and the example's flags for it."""


@dataclass
class Outcome:
    """What a run of an example pair printed."""

    example: Example
    receiver_runs: str
    sender_runs: str
    receiver_printed: list[str]
    sender_printed: list[str]
    errors: str

    @property
    def as_documented(self) -> bool:
        return (
            tuple(self.receiver_printed) == self.example.receiver_prints
            and tuple(self.sender_printed) == self.example.sender_prints
        )


def printed_lines(text: str) -> list[str]:
    """C{text}'s lines, with the addresses in them as 0x... (they change from run to run)."""
    return [re.sub(r"0x[0-9a-f]+", "0x...", line) for line in text.splitlines()]


def port_of(receiver: subprocess.Popen[str], timeout: float) -> int:
    """The port the receiver says it listens on."""
    assert receiver.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([receiver.stderr], [], [], deadline - time.monotonic())
        if not ready:
            break
        line = receiver.stderr.readline()
        if not line:
            break
        found = re.match(r"listening on port (\d+)", line)
        if found:
            return int(found.group(1))
    receiver.kill()
    raise RuntimeError(f"the receiver did not start: {receiver.communicate()}")


def run(example: Example, receiver_runs: str, sender_runs: str, timeout: float = 60) -> Outcome:
    """
    Run C{example}'s receiver, then its sender, each on what it is told
    (L{STOCK}, L{PBFAST}, L{INSTALLED}), in processes of their own; what they
    printed.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    def command(script: str, runs: str, *arguments: str) -> list[str]:
        return [sys.executable, script, *arguments, *FLAGS[runs]]

    receiver = subprocess.Popen(
        command(example.receiver, receiver_runs, "--port", "0"),
        cwd=EXAMPLES,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = port_of(receiver, timeout)
        sender = subprocess.run(
            command(example.sender, sender_runs, "--port", str(port)),
            cwd=EXAMPLES,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        # The cache receiver stops when told to; the others are stopped.
        try:
            receiver_out, receiver_err = receiver.communicate(timeout=1)
        except subprocess.TimeoutExpired:
            receiver.terminate()
            receiver_out, receiver_err = receiver.communicate(timeout=timeout)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.communicate()
    return Outcome(
        example,
        receiver_runs,
        sender_runs,
        printed_lines(receiver_out),
        printed_lines(sender.stdout),
        (receiver_err + sender.stderr).strip(),
    )
