"""PDF reports and SVG charts built from scoring results (issue 4).

Takes result objects, returns bytes; imports neither Flask nor the database.
"""
