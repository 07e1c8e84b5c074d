"""Blocking HTTP for Python brand plugins: one call, one answer.

A Python plugin that calls its brand's own systems is built against the
`brand-plugin-http` world (write `# componentize-py world: brand-plugin-http` in its
`app.py`; the gateway's build adds this folder to the plugin's Python path). Then::

    from gateway_http import send, HttpError

    answer = send("GET", "https://shop.example/orders/4411",
                  headers=[("Accept", "application/json")])
    if answer.status == 200:
        order = answer.json()

The gateway decides what may go out: only the origins in `[brands.NAME.http]`, with the
credentials it adds itself (the plugin never sees them), no redirects, bounded sizes,
time and counts, and only GET and HEAD in Listening Mode. A request the policy refuses
raises `HttpError` with `denied` set; so does a failure on the way (timeout, refused
connection, an answer too large), with Zendesk-free wording fit for an audit reason.

`wasi:http` is asynchronous at heart (a request gives a future to poll). A plugin runs
one request at a time, so this module waits on each future in turn: it blocks the
plugin, never the gateway, whose clock does not charge the wait to the plugin's
deadline.
"""

import json as _json

from componentize_py_types import Err
from wit_world.imports import outgoing_handler
from wit_world.imports import wasi_http_types as http

# The largest write a wasi:io output stream promises to accept in one call.
_WRITE_CHUNK = 4096
# How much to ask for per read; the gateway caps the whole answer anyway.
_READ_CHUNK = 64 * 1024

_METHODS = {
    "GET": http.Method_Get,
    "HEAD": http.Method_Head,
    "POST": http.Method_Post,
    "PUT": http.Method_Put,
    "DELETE": http.Method_Delete,
    "PATCH": http.Method_Patch,
    "OPTIONS": http.Method_Options,
}


class HttpError(Exception):
    """A request that got no answer: refused by the brand's policy, or failed on the way.

    `denied` is True when the gateway's policy refused it (origin not allowed, a
    private address, Listening Mode and not a GET or HEAD, over the per-run cap).
    """

    def __init__(self, message, denied=False):
        super().__init__(message)
        self.denied = denied


class Response:
    """An answer: its status, its headers (names in lower case) and its body as bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        """The first value of header `name` (any case), or None."""
        for key, value in self.headers:
            if key == name.lower():
                return value
        return None

    def text(self):
        """The body as text (invalid UTF-8 replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self):
        """The body parsed as JSON; raises HttpError when it is not JSON."""
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise HttpError(f"the answer is not JSON: {e}")


def _describe(code):
    """Words for a wasi:http error code, for logs and audit reasons."""
    name = type(code).__name__.replace("ErrorCode_", "")
    value = getattr(code, "value", None)
    return f"{name} ({value})" if value not in (None, ()) else name


def _split(url):
    """(scheme, authority, path-with-query) of an absolute http(s) URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise HttpError(f"not an absolute URL: {url!r}")
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, path = rest[:cut], rest[cut:] or "/"
    if path.startswith("?"):
        path = "/" + path
    if not authority:
        raise HttpError(f"no host in URL: {url!r}")
    return scheme.lower(), authority, path


def send(method, url, headers=(), body=None):
    """Sends one request and waits for the whole answer.

    `headers` is a list of (name, value) string pairs; `body` is bytes, str or None.
    Returns a `Response` for any HTTP status (a 404 or 500 is an answer, not an error);
    raises `HttpError` when there is no answer.
    """
    scheme, authority, path = _split(url)
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        fields = http.Fields.from_list([(k, v.encode("utf-8")) for k, v in headers])
    except Err as e:
        raise HttpError(f"bad header: {type(e.value).__name__}")
    request = http.OutgoingRequest(fields)
    verb = method.upper()
    request.set_method(_METHODS[verb]() if verb in _METHODS else http.Method_Other(verb))
    if scheme == "https":
        request.set_scheme(http.Scheme_Https())
    elif scheme == "http":
        request.set_scheme(http.Scheme_Http())
    else:
        raise HttpError(f"unsupported scheme {scheme!r} in {url!r}")
    request.set_authority(authority)
    request.set_path_with_query(path)

    outgoing = request.body()
    if body:
        with outgoing.write() as stream:
            for start in range(0, len(body), _WRITE_CHUNK):
                try:
                    stream.blocking_write_and_flush(body[start:start + _WRITE_CHUNK])
                except Err as e:
                    raise HttpError(f"sending the body: {type(e.value).__name__}")

    # As wasi:http has it: hand the request over, then finish its body.
    try:
        future = outgoing_handler.handle(request, None)
    except Err as e:
        denied = isinstance(e.value, http.ErrorCode_HttpRequestDenied)
        raise HttpError(f"{verb} {url}: {_describe(e.value)}", denied=denied)
    try:
        http.OutgoingBody.finish(outgoing, None)
    except Err as e:
        raise HttpError(f"{verb} {url}: finishing the body: {_describe(e.value)}")

    with future:
        with future.subscribe() as ready:
            ready.block()
        outcome = future.get()
    if outcome is None or isinstance(outcome, Err):
        raise HttpError(f"{verb} {url}: the answer was not ready or already taken")
    answer = outcome.value
    if isinstance(answer, Err):
        denied = isinstance(answer.value, http.ErrorCode_HttpRequestDenied)
        raise HttpError(f"{verb} {url}: {_describe(answer.value)}", denied=denied)
    response = answer.value

    with response:
        status = response.status()
        with response.headers() as fields:
            names = [(k.lower(), v.decode("utf-8", "replace")) for k, v in fields.entries()]
        chunks = []
        with response.consume() as incoming:
            with incoming.stream() as stream:
                while True:
                    try:
                        chunks.append(bytes(stream.blocking_read(_READ_CHUNK)))
                    except Err as e:
                        # `closed` is the end of the body; anything else is a failure.
                        if type(e.value).__name__.endswith("Closed"):
                            break
                        raise HttpError(f"{verb} {url}: reading the answer failed")
    return Response(status, names, b"".join(chunks))
