"""Primitives shared by the servers, the load generator and the orchestrator."""
