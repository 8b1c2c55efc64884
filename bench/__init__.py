"""The orchestrator: plan a matrix, run it, record pyperf results, report and compare."""
