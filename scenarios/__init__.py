"""Scenario files and the code that turns one into a run: schema, loading, runner and CLI."""
