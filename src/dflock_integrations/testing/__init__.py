"""Tools for testing code that uses dflock; none of them is for production.

- `pytest_plugin`: the pytest fixtures (`dflock_server`, `dflock_client`, ...), enabled
  on install through the `pytest11` entry point, and `settings_for(server)`.
- `filesystem_broker`: Celery settings for a broker in a folder, for tests, examples
  and development with nothing installed (needs the `celery` extra).

The embedded server itself is `dflock_integrations.server`.
"""
