"""Print `name==floor` for every `name>=floor` requirement of pyproject.toml (runtime and test)."""

import re
import tomllib

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for req in project["dependencies"] + project["optional-dependencies"]["test"]:
    match = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([^,;\s]+)", req)
    if match is None:
        raise SystemExit(f"requirement {req!r} in pyproject.toml has no >= floor")
    print(f"{match[1]}=={match[2]}")
