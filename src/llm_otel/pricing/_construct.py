"""Cheap construction of the frozen slots dataclasses the hot path returns (BucketCost, Cost).

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; for the
8-13 fields of BucketCost and Cost that dominated a cached price (benchmarks/pricing.py).
Setting slots through their descriptors builds the same object about 4x faster.
"""

from __future__ import annotations

import dataclasses
from typing import Any

_MISSING = object()


def fast_constructor(cls: type) -> Any:
    """``make(*fields_in_order)`` building a ``cls`` without its ``__init__``; fields with defaults may be omitted.

    Fields added to ``cls`` later (with defaults, as the Cost contract allows) keep working:
    omitted arguments take the field's default or default_factory.
    """
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_M": _MISSING}
    params, body = [], []
    for i, f in enumerate(dataclasses.fields(cls)):
        env[f"_s{i}"] = getattr(cls, f.name).__set__
        if f.default is not dataclasses.MISSING:
            env[f"_d{i}"] = f.default
            params.append(f"a{i}=_d{i}")
        elif f.default_factory is not dataclasses.MISSING:
            env[f"_f{i}"] = f.default_factory
            params.append(f"a{i}=_M")
            body.append(f"    if a{i} is _M:\n        a{i} = _f{i}()")
        else:
            params.append(f"a{i}")
        body.append(f"    _s{i}(o, a{i})")
    src = f"def make({', '.join(params)}):\n    o = _new(_cls)\n" + "\n".join(body) + "\n    return o\n"
    exec(src, env)
    return env["make"]
