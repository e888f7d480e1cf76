"""``python -m ordinance``: the ``ordinance`` command for machines where only the interpreter is
on PATH (a virtual environment not activated, a CI step); the code lives in ``engine``."""
