"""Use cases that change or check a store: snapshot, run, status, checkout, gc, verify.
Each takes a store and a workspace, never the facade."""
