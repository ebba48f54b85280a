"""
pbfast's tooling, not part of the drop-in API: what C{python -m pbfast}
runs, what C{benches/}, the tests and the Python fuzzer share, and nothing
an application that uses C{twisted.spread} or L{pbfast.install} needs. Its
modules may change from one release to the next.

  - L{pbfast.tools.cli}: the command line (C{python -m pbfast demo | bench |
    decode}), its arguments and subcommands;
  - L{pbfast.tools.demo}: C{python -m pbfast demo};
  - L{pbfast.tools.payloads}: every payload pbfast is measured on;
  - L{pbfast.tools.reference}: the codecs it is checked and timed against
    (Twisted's, pickle's, msgspec's);
  - L{pbfast.tools.timing}: the timing method (side by side, in rounds);
  - L{pbfast.tools.bench}: the codec's measurements, into rows;
  - L{pbfast.tools.broker_bench}: the broker's, over TCP and in memory;
  - L{pbfast.tools.tables}: the rows as tables, and the targets;
  - L{pbfast.tools.plot}: C{bench --plot}'s charts (matplotlib);
  - L{pbfast.tools.inspector}: the wire inspector behind C{decode};
  - L{pbfast.tools.examples_runner}: Twisted's PB Copyable examples, run as
    its document runs them.
"""
