"""The park's services; each folder is one nameko service with its own database."""

import shared  # noqa: F401  (silences eventlet's import-time deprecation notice first)
