"""The aiohttp API in front of the replicated state."""
