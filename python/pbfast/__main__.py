"""
C{python -m pbfast}: the command line, which lives in L{pbfast.tools.cli}
with the rest of the tooling.
"""

import sys

from pbfast.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
