"""`python -m service [--flags]`: start the inference server (see service.settings)."""

from __future__ import annotations

import sys

from service.logs import configure_logging
from service.server import build_server, exit_status
from service.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    settings = load_settings(argv)
    configure_logging(settings.log_level, settings.log_format)
    server = build_server(settings)
    server.run()
    return exit_status(server)


if __name__ == "__main__":
    sys.exit(main())
