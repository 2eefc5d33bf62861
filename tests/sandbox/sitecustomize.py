"""Loaded by every Python started with tests/sandbox on PYTHONPATH (the notebook kernels of
tests/test_notebook_sandbox.py): refuses any socket connection or name lookup that is not
loopback, and logs each attempt to $CARCOURSE_NET_LOG. Jupyter's own ZeroMQ sockets are C-level
and on 127.0.0.1, so the kernel keeps working."""
import os
import socket

_LOG = os.environ.get("CARCOURSE_NET_LOG")
_LOCAL = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}


def _refuse(what, address):
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(f"{os.getpid()} {what} {address!r}\n")
    raise OSError(f"network access blocked in the carcourse notebook sandbox: {what} {address!r}")


def _host(address):
    if isinstance(address, tuple) and address:
        return str(address[0])
    return None  # AF_UNIX paths and the like are local


_connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
_getaddrinfo = socket.getaddrinfo


def connect(self, address):
    host = _host(address)
    if host is not None and host not in _LOCAL and not host.startswith("127."):
        _refuse("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    host = _host(address)
    if host is not None and host not in _LOCAL and not host.startswith("127."):
        _refuse("connect_ex", address)
    return _connect_ex(self, address)


def sendto(self, data, *args):
    address = args[-1]
    host = _host(address)
    if host is not None and host not in _LOCAL and not host.startswith("127."):
        _refuse("sendto", address)
    return _sendto(self, data, *args)


def getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else str(host) if host is not None else ""
    if name not in _LOCAL and not name.startswith("127."):
        _refuse("getaddrinfo", name)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.socket.sendto = sendto
socket.getaddrinfo = getaddrinfo
os.environ["CARCOURSE_SANDBOX"] = "1"
