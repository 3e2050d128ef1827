"""The web application: the factory, the blueprints, forms, sign-in, anti-abuse, languages."""

from survey.web.app import create_app

__all__ = ["create_app"]
