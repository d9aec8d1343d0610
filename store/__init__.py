"""The store: all the web server and the worker share (tables, migrations, queue and feed
operations, settings). Imports neither the web stack nor torch; `app/` and `worker/` import it and
never each other."""
