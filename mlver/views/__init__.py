"""Renderers of typed values: text for the command line and the HTML report."""
