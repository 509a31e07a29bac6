"""Storage: immutable objects, trees, the mutable ref layer and the SQLite index.

Nothing here knows what a record means; ``mlver.record`` and above do.
"""
