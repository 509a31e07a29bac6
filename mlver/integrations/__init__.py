"""mlver inside other tools: git hooks and the DVC import."""
