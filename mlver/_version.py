"""The version of mlver (its own module, so that layers below the facade can name it
without importing the package, which imports the facade)."""

__version__ = "0.1.0"
