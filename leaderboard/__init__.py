"""wemd.leaderboard."""
