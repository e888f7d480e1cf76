"""``python -m ordinance …`` runs ``engine.tools.cli:main``, the command the ``ordinance`` script
runs, named ``ordinance`` in its help and errors (not ``__main__.py``)."""

from engine.tools.cli import main

if __name__ == "__main__":
    main(prog_name="ordinance")
