"""The back office of the example story: the admin, with dflock's live-locks page."""
