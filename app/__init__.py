"""The Dash dashboard comparing the CNN family; pages in ``app/pages``, the app in :mod:`app.main`.

The app layer reads runs and analysis results; it never trains or builds a model.
"""
