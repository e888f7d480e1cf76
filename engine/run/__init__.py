"""The run time: a ``CompiledPolicy`` and a case to a ``Result``.

Nothing here imports YAML, JSON Schema, Lark or networkx (``tests/test_architecture.py``).
"""
