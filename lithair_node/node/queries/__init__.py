"""Read-side query functions: pure functions over immutable SeriesViews (no aiohttp).

Handlers (http/query_routes.py) capture views under the state lock and call these outside
it, so apply on the Raft thread is never held up by a query.
"""
