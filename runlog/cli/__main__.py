"""``python -m runlog.cli``: the ``runlog`` command."""

from . import main

main()
