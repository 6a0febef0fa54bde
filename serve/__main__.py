"""`python -m serve [--host H] [--port P]`: the bot (webhook, worker, sender, payments) under uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from serve.app import create_app

UVICORN_DRAIN_S = 5  # s; below make serve's BOT_STOP_MARGIN_S (serve/devtools/stack.py)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the zapvendas WhatsApp bot.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="match PUBLIC_BASE_URL (default http://127.0.0.1:8080)")
    parser.add_argument(
        "--no-workers", action="store_true", help="only the HTTP side; run `python -m serve.whatsapp.worker` apart"
    )
    args = parser.parse_args()
    app = create_app(start_workers=not args.no_workers)
    # log_config=None: keep our JSON logging (serve/logs.py) instead of uvicorn's text format.
    # On SIGTERM uvicorn waits at most UVICORN_DRAIN_S for open requests, then the app's shutdown
    # gives turns in flight SHUTDOWN_WAIT_S (serve/app.py): bounded, and within `make serve`'s wait.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=UVICORN_DRAIN_S,
    )


if __name__ == "__main__":
    main()
