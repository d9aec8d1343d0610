"""The store: all the web server and the worker share (tables, migrations, settings). Every write
is in store.queue (the queue's, the worker's, the web's), every query the web makes in
store.reads. Imports neither the web stack nor torch; `app/` and `worker/` import it and never
each other."""
