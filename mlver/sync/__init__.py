"""Sharing through remotes: push, pull, remote configuration, trust pins, remote verify."""
