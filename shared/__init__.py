"""The project's common package: event contract, topology, messaging core, calendar."""

import warnings

# eventlet announces its own deprecation on import; nameko 3 depends on it, and we keep
# both at the edges (STYLE.md). The notice is not ours to act on, so keep logs clean.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
