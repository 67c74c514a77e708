"""Operator tooling: the `park` CLI, flow tracing, migrations, health reports."""
