"""The board's web page: the same actions as the CLI, for people who never open a terminal.

`app.create_app` builds the Flask application; `mail-ingest web` serves it with waitress.
Handlers (views.py) call the application layer (mail_ingest/app.py), as the CLI does.
"""
