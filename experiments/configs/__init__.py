"""One module per sweep config, each defining ``get_config()`` (see ``experiments/__init__.py``)."""
