"""``monitor rules schema``: the JSON Schema of rule files, generated from the loader's own models.

Editors (VS Code and others through yaml-language-server) read it from the
comment ``# yaml-language-server: $schema=../schema/rules.schema.json`` at the
top of a rule file and then complete keys, show descriptions and flag typos.
The committed copy in ``schema/`` is checked against this output by the tests.
"""

from __future__ import annotations

import json
from typing import Any

from monitor.matching import rulefile

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def rule_file_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a rule file."""
    generated = rulefile.RuleFile.model_json_schema(by_alias=True)
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": rulefile.SCHEMA_URL, **generated}


def rule_file_schema_text() -> str:
    """The schema as committed in ``schema/rules.schema.json`` (without the final newline)."""
    return json.dumps(rule_file_schema(), indent=2, ensure_ascii=False)
