"""What to run: the cells of a matrix, and the profiles that name whole matrices.

The bottom wing: every other wing reads cells, none of this imports them.
"""
