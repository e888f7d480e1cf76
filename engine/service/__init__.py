"""The decision service (issue 13): ``ordinance serve``, an ASGI application (Starlette, served
by uvicorn) that permitting systems call over HTTP, with a decision log that replays and the
page a certificate's QR code opens.

It calls the run time the way the command line does (``engine.api.Policy``), so the service and
``ordinance eval`` give the same answers; nothing in ``engine/run`` imports it.
"""
