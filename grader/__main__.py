"""``python -m grader`` is the ``grader`` command."""

from grader.cli import main

# Guarded: a process that multiprocessing spawns (similarity's tokenizing, a local Dask cluster)
# imports the parent's main module again, under another name, and must not run the command again.
if __name__ == "__main__":
    raise SystemExit(main())
