"""Deprecated: moved to `dflock_integrations.cli.stats_table`."""

from dflock_integrations._deprecated import moved
from dflock_integrations.cli.stats_table import HEADERS, render_stats, stats_rows

__all__ = ["HEADERS", "render_stats", "stats_rows"]

moved(__name__, "dflock_integrations.cli.stats_table")
