"""Judging results: significance (compare), SLO capacity, rankings, the claims, and the order
cells are shown in. Plain functions over what `bench.store` reads; nothing here draws."""
