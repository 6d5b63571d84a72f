"""Exit codes of `dflock` and of the Django management commands, from sysexits.h.

One table for both, so a script learns the same thing from either:

| code | sysexits       | when                                                            |
|------|----------------|-----------------------------------------------------------------|
| 2    | (usage)        | the command line: an unknown option, a key the protocol refuses |
| 69   | EX_UNAVAILABLE | no server answered, or it has no signals                        |
| 70   | EX_SOFTWARE    | the lease was lost while `dflock run`'s command ran             |
| 75   | EX_TEMPFAIL    | not granted in time; a server cap; a semaphore limit conflict   |
| 76   | EX_PROTOCOL    | the server answered something the protocol does not allow       |
| 77   | EX_NOPERM      | the server refused the auth token                               |
| 78   | EX_CONFIG      | settings that cannot work                                       |
| 126  | (shell)        | `dflock run`: the command cannot be executed                    |
| 127  | (shell)        | `dflock run`: the command was not found                         |
| 128+N| (shell)        | `dflock run`: the command was killed by signal N                |

Otherwise `dflock run` exits with its command's own status.
"""

from __future__ import annotations

from dflock_integrations import errors

USAGE = 2  # what click and argparse exit with for a command line they refuse
UNAVAILABLE = 69
SOFTWARE = 70
TEMPFAIL = 75
PROTOCOL = 76
NOPERM = 77
CONFIG = 78
CANNOT_EXECUTE = 126
NOT_FOUND = 127
SIGNALLED = 128  # plus the signal's number

_BY_CLASS: tuple[tuple[type[Exception], int], ...] = (
    (errors.ConfigurationError, CONFIG),
    (errors.InvalidKeyError, USAGE),
    (errors.AuthenticationError, NOPERM),
    (errors.LockTimeout, TEMPFAIL),
    (errors.MaxWaitersError, TEMPFAIL),
    (errors.MaxLocksError, TEMPFAIL),
    (errors.LimitMismatchError, TEMPFAIL),
    (errors.LockLostError, SOFTWARE),
    (errors.ServerUnavailable, UNAVAILABLE),
    (errors.SignalsUnsupported, UNAVAILABLE),
    (errors.ProtocolError, PROTOCOL),
    (errors.ServerError, PROTOCOL),  # after its subclasses above
)


def exit_code_for(exc: BaseException) -> int:
    """The exit code for a failure; 1 for one this table does not know."""
    for cls, code in _BY_CLASS:
        if isinstance(exc, cls):
            return code
    return 1
