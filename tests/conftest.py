# Puts tests/ on sys.path so every layer's tests import the one record factory (records.py)
# by name. Nothing is imported from here.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
