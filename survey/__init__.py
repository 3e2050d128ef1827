"""The IKM survey service, in three layers.

- :mod:`survey.core`: the services, one module per concept (OPDs, waves, questionnaires,
  accounts, submissions, the response file, imports, exports, scores, privacy, backup, the
  demo) and read-only queries. A database session in; value objects or coded problems out.
  No Flask, no Click.
- :mod:`survey.web`: the Flask application (``survey.web.create_app``): blueprints, forms,
  sign-in, anti-abuse, languages.
- :mod:`survey.cli`: the ``ikm`` command, one module per command group.
"""
