"""An embedded, dflockd-compatible server for development and tests.

Production runs the real dflockd. This one speaks the same protocol (locks,
semaphores, two-phase acquisition, leases, fencing tokens, stats, auth, TLS, the
idle read timeout and signals) so the package runs and tests with nothing else
installed.
"""

from dflock_integrations.server._background import RunningServer, run_in_thread
from dflock_integrations.server._listener import DflockServer
from dflock_integrations.server._options import ServerConfig

__all__ = ["DflockServer", "RunningServer", "ServerConfig", "run_in_thread"]
