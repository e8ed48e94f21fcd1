"""The reaper: pure rules for what is left behind, and the sweep that lists and deletes it."""
