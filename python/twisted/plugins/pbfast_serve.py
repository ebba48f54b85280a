"""
C{twist pbfast MODULE:NAME --listen ENDPOINT --workers N}: a PB service on
pbfast's broker, run by Twisted's own runner (see L{pbfast.serve}).
"""

from twisted.application.service import ServiceMaker

pbfast = ServiceMaker(
    "pbfast",
    "pbfast.serve",
    "Serve a PB root over pbfast's broker, on N worker processes sharing one socket.",
    "pbfast",
)
