"""moto's server with every request handled under one lock.

Why: moto's threaded server runs requests in parallel, and its DynamoDB conditional writes and
TransactWriteItems check the condition and then write as two steps with nothing held between
them (a failed transaction even restores a deep copy of the whole table taken before it began,
undoing writes that landed meanwhile). Two concurrent writers conditioned on the same version
can therefore both succeed on moto, which DynamoDB never allows. Serialising requests restores
the atomicity the tests rely on ("concurrent requests can't both win") at no cost that matters
for a test emulator. Usage: python moto-serial.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialised(environ, start_response):
        with lock:
            # Drain the body inside the lock: a lazily produced response would otherwise run
            # its handler code after the lock is released.
            return list(app(environ, start_response))

    run_simple(host, port, serialised, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
