"""The bottom floor: pure checks, names, tags, images, prices, the RunConfig record, AWS clients and task helpers.

Imports nothing else of the package, so every capability may import it.
"""
