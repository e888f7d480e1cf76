"""The compile stages: policy files to a ``CompiledPolicy`` (``STAGES`` lists them in order)."""
