"""Capture: turn the workspace (files, git, params, the Python env) into record parts."""
