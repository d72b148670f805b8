"""Read-side query functions: pure functions over immutable SensorViews (no aiohttp).

Handlers (http/) take views with StateMachine.read, which holds the state lock only while
it takes them, and call these outside it, so apply on the Raft thread is never held up by
a query.
"""
