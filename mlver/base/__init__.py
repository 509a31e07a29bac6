"""Leaf utilities every layer may import: the error hierarchy, hashing, canonical JSON,
safe text, progress. Nothing here imports another mlver package."""
