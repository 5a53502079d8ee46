import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# tests/programs/*.py are scripts that test_programs.py runs (not test modules to import).
collect_ignore = ["programs"]
