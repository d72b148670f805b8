"""Live streams of applied entries (GET /api/v1/stream): the hub that receives them from the
Raft thread, the ring that lets a client resume, and each subscriber's bounded queue."""
