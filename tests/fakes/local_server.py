"""A fake's ASGI app under uvicorn on 127.0.0.1:<free port>, in a daemon thread.

The thread itself is serve.devtools.fake_graph.ServerThread (the simulator needs it outside the tests);
this adds what the fakes use: `start()`/`stop()`, `port` and `url`.
"""

from __future__ import annotations

from serve.devtools.fake_graph import ServerThread


class LocalServer(ServerThread):
    def __init__(self, app, name: str):
        super().__init__(app)
        self._thread.name = name

    @property
    def port(self) -> int:
        return self._server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return self.base_url

    def start(self):
        return self.__enter__()

    def stop(self) -> None:
        self.__exit__()
