"""The cell model shared by drawing and reading: the tile atlas, map symbols, whole-array grid ops.

Enters: grids of character codes. Leaves: pixels of 16 px cells (and back, for reading).
Imports nothing from config, dataset, train, check or cli: both the generator and the checker
stand on it, so it must not lean on either.
"""
