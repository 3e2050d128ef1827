"""Pure statistics of the IKM: scores, intervals, ranks (issue 3).

Plain functions over arrays or sufficient statistics returning frozen result objects; imports
neither Flask, nor the database, nor ``survey`` or ``reports``.
"""
