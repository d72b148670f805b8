"""The storage engine for wide batches (issue 11): not wired into StateMachine yet."""
