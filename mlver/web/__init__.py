"""``mlver ui``: the local, read-only web app (above the facade)."""
