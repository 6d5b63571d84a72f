"""An embedded, dflockd-compatible server for development and tests.

Production runs the real dflockd. This one speaks the same protocol (locks,
semaphores, two-phase acquisition, leases, fencing tokens, stats, auth, TLS, the
idle read timeout and signals) so the package runs and tests with nothing else
installed, and it can answer as each upstream generation does (`compat="1.10"`,
`"2.1"`, ...; see `Profile`) or as a cluster follower (`follower_of="host:port"`).
"""

from dflock_integrations.server._background import RunningServer, run_in_thread
from dflock_integrations.server._listener import DflockServer
from dflock_integrations.server._options import ServerConfig
from dflock_integrations.server._process import ServerProcess
from dflock_integrations.server._profiles import CHOICES as COMPAT_CHOICES
from dflock_integrations.server._profiles import Profile

__all__ = [
    "COMPAT_CHOICES",
    "DflockServer",
    "Profile",
    "RunningServer",
    "ServerConfig",
    "ServerProcess",
    "run_in_thread",
]
