"""Client library for ctstreamd, the conntrack event streaming daemon.

>>> from ctstreamd import Client
>>> c = Client()                       # /run/ctstreamd/{events,control}.sock
>>> for ev in c.events(filter={"events": "new", "proto": "tcp"}):
...     print(ev["orig"]["src"], "->", ev["orig"]["dst"], ev["orig"]["dport"])

See README.md beside this package for the whole API.
"""

from ._client import (
    DEFAULT_CONTROL_PATH,
    DEFAULT_EVENTS_PATH,
    Client,
    Dump,
    Event,
    EventStream,
    request_tuple,
)
from ._errors import (
    BadFilter,
    BadJson,
    BadRequest,
    Busy,
    CtstreamdError,
    DaemonUnavailable,
    Denied,
    Exists,
    InternalError,
    KernelError,
    NotFound,
    ProtocolError,
    SnapshotError,
    Timeout,
    TooLarge,
    TooManyClients,
    TooSlow,
    UnknownCommand,
    error_from_reply,
)
from ._table import ConntrackTable

__version__ = "0.1.0"

__all__ = [
    "Client",
    "EventStream",
    "Dump",
    "Event",
    "ConntrackTable",
    "request_tuple",
    "DEFAULT_EVENTS_PATH",
    "DEFAULT_CONTROL_PATH",
    "CtstreamdError",
    "BadJson",
    "BadRequest",
    "UnknownCommand",
    "Denied",
    "BadFilter",
    "Busy",
    "NotFound",
    "Exists",
    "KernelError",
    "SnapshotError",
    "InternalError",
    "TooLarge",
    "TooSlow",
    "TooManyClients",
    "DaemonUnavailable",
    "Timeout",
    "ProtocolError",
    "error_from_reply",
    "__version__",
]
