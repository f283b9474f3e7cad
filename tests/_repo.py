"""Where the repository's parts are, for tests in any folder under tests/."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
EXAMPLES = REPO / "examples"
DATA = TESTS / "data"
