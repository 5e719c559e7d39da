"""Errors of the codec.

RulesError             anything the codec refuses
├── RuleSetError       a rule-set file is invalid: names the file and the field
└── CodecError         a message cannot be packed or unpacked under its rule set
"""

from __future__ import annotations


class RulesError(Exception):
    pass


class RuleSetError(RulesError):
    def __init__(self, source: str, field: str | None, problem: str):
        where = f"{source}: field '{field}'" if field else source
        super().__init__(f"{where}: {problem}")
        self.source = source
        self.field = field
        self.problem = problem


class CodecError(RulesError):
    pass
