"""`python -m service [--flags]`: start the inference server (see service.settings)."""

from __future__ import annotations

import sys

# Exit status of a server started offline whose model the cache lacks.
MODEL_NOT_CACHED_EXIT_STATUS = 3


def main(argv: list[str] | None = None) -> int:
    # Settings first, alone: a bad flag is reported before the web stack is imported.
    from service.settings import load_settings

    settings = load_settings(argv)
    if settings.engine != "simulated" and settings.model_path:
        from service.model_files import ModelNotCached, local_model

        try:
            local = local_model(settings.model_path, settings.model_revision)
        except ModelNotCached as error:
            print(f"error: {error}", file=sys.stderr)
            return MODEL_NOT_CACHED_EXIT_STATUS
        # The API keeps naming the model as configured, not by its cache directory.
        settings = settings.model_copy(
            update={"model_path": local, "served_model_name": settings.model_name}
        )

    from service.logs import configure_logging
    from service.server import build_server, exit_status

    configure_logging(settings.log_level, settings.log_format)
    server = build_server(settings)
    server.run()
    return exit_status(server)


if __name__ == "__main__":
    sys.exit(main())
