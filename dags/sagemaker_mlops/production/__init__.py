"""The guarded production endpoint: its requests, alarms, rollout and tasks."""
