"""The services of the survey, shared by the web, the command line and the demo.

One module per concept, named after it. Each function takes a database session (or an
engine) explicitly and returns value objects; a refusal is a :class:`survey.core.problems.
ProblemError` carrying coded problems, which the web translates and the command line prints
in English. Nothing here imports Flask, Werkzeug or Click (``tests/test_layers.py``).
"""
