"""`python -m serve [--host H] [--port P]`: the bot (webhook, worker, sender, payments) under uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from serve.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the zapvendas WhatsApp bot.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="match PUBLIC_BASE_URL (default http://127.0.0.1:8080)")
    parser.add_argument(
        "--no-workers", action="store_true", help="only the HTTP side; run `python -m serve.whatsapp.worker` apart"
    )
    args = parser.parse_args()
    app = create_app(start_workers=not args.no_workers)
    # log_config=None: keep our JSON logging (serve/logs.py) instead of uvicorn's text format
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, proxy_headers=True)


if __name__ == "__main__":
    main()
