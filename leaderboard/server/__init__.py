"""The shared leaderboard service: an ASGI app that scores predictions and re-runs models."""
