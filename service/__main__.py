"""`python -m service [--flags]`: start the inference server (see service.settings)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    # Settings first, alone: a bad flag is reported before the web stack is imported.
    from service.settings import load_settings

    settings = load_settings(argv)

    from service.logs import configure_logging
    from service.server import build_server, exit_status

    configure_logging(settings.log_level, settings.log_format)
    server = build_server(settings)
    server.run()
    return exit_status(server)


if __name__ == "__main__":
    sys.exit(main())
