"""The plumbing every suite shares, one module per idea (fixtures built on it are in
tests/conftest.py):

- `processes`: `ApiProcess`, the API as `make run` serves it (`python -m app serve`), in a
  child process: for signals, restarts, several instances, real sockets, browsers;
- `servers`: `serve_app(app)`, an app served by uvicorn inside the test's event loop, for
  clients that need a real socket (the openai SDK, a client leaving mid-stream);
- `sse`: reading `text/event-stream` bodies, whole or as they arrive;
- `waiting`: `until` / `eventually`, for state no event announces (a deadline, never a bare sleep);
- `store_calls`: counting the SQL function calls a store (or a running app's store) makes.
"""
