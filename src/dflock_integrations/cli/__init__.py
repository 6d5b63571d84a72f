"""The command line: `dflock serve | stats | health | listen | emit | run`.

- `_commands.py`: the `dflock` group and its client subcommands (`serve` is the
  embedded server's own, `dflock_integrations.server.cli`).
- `_supervise.py`: `dflock run`'s command, started, signalled and waited for.
- `exit_codes.py`: the exit codes of `dflock` and of the Django management commands.
- `stats_table.py`: stats as a text table, for `dflock stats`, `manage.py dflock_stats`
  and the Django admin page.
"""

from dflock_integrations.cli._commands import main

__all__ = ["main"]
