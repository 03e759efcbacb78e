"""Print the requirements of one optional-dependency group of pyproject.toml (for `pip install --no-deps`)."""

import sys
import tomllib

with open("pyproject.toml", "rb") as f:
    print(" ".join(tomllib.load(f)["project"]["optional-dependencies"][sys.argv[1]]))
