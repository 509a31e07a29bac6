"""The model: records, revisions, config values, params, history, branches, reachability,
the workspace and lineage. Imports only :mod:`mlver.base` and :mod:`mlver.store`."""
