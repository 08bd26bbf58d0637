"""Reading a price book's YAML nodes with validation: every error names file, line and key.

Works on composed YAML nodes (not loaded values) so each node still knows its line;
``llm_otel.pricing.book.parse_pricebook`` drives it section by section.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from genai_prices import types as gp_types

from llm_otel.pricing.book import (
    BUCKETS,
    MATCH_KEYS,
    RATE_KEYS,
    Alias,
    Committed,
    Contract,
    Match,
    PriceBookError,
    RateRule,
    Window,
)
from llm_otel.pricing.cost import CACHE_WRITE_BUCKETS
from llm_otel.pricing.providers import billing_provider


def _unknown_key_message(name: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    if len(allowed) > 12:
        return f"unknown key; {hint}expected a genai-prices price key such as input_mtok, output_mtok, cache_read_mtok"
    return f"unknown key; {hint}expected one of: {', '.join(allowed)}"


def _line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 0


@dataclass
class Reader:
    """Walks composed YAML nodes so every error can name its line."""

    file: str

    def fail(self, node: yaml.Node | None, key: str, message: str) -> PriceBookError:
        raise PriceBookError(self.file, _line(node), key, message)

    def mapping(
        self, node: yaml.Node | None, key: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, key or "price book", f"must be a mapping with keys {', '.join(allowed)}")
        assert isinstance(node, yaml.MappingNode)
        out: dict[str, yaml.Node] = {}
        for k, v in node.value:
            name = str(k.value)
            sub = f"{key}.{name}" if key else name
            if name not in allowed:
                self.fail(k, sub, _unknown_key_message(name, allowed))
            if name in out:
                self.fail(k, sub, "given twice; keep one")
            out[name] = v
        for name in required:
            if name not in out:
                self.fail(node, f"{key}.{name}", "is required")
        return out

    def sequence(self, node: yaml.Node | None, key: str) -> list[yaml.Node]:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, key, "must be a list (entries start with '- ')")
        assert isinstance(node, yaml.SequenceNode)
        return list(node.value)

    def string(self, node: yaml.Node, key: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith((":null", ":map", ":seq")) or not node.value:
            self.fail(node, key, "must be a non-empty string")
        return str(node.value)

    def url(self, node: yaml.Node, key: str) -> str:
        value = self.string(node, key)
        if not value.startswith(("https://", "http://", "file://")):
            self.fail(node, key, f"must be an https:// URL of a genai-prices data.json mirror, got {value!r}")
        return value

    def number(self, node: yaml.Node, key: str, *, positive: bool = False) -> Decimal:
        ok = isinstance(node, yaml.ScalarNode) and (node.tag.endswith((":int", ":float")))
        value = Decimal(0)
        if ok:
            try:
                value = Decimal(str(node.value).replace("_", ""))
                ok = value.is_finite()
            except InvalidOperation:
                ok = False
        if not ok:
            self.fail(node, key, f"must be a number, got {getattr(node, 'value', type(node).__name__)!r}")
        if value < 0 or (positive and value == 0):
            self.fail(node, key, f"must be {'greater than' if positive else 'at least'} 0, got {node.value}")
        return value

    def day(self, node: yaml.Node, key: str) -> date:
        value = str(getattr(node, "value", ""))
        try:
            if not isinstance(node, yaml.ScalarNode) or len(value) != 10:
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            self.fail(node, key, f"must be a date YYYY-MM-DD (rules change at UTC midnight), got {value!r}")
            raise  # unreachable

    def window(self, m: dict[str, yaml.Node], key: str) -> Window:
        start = self.day(m["start"], f"{key}.start") if "start" in m else None
        end = self.day(m["end"], f"{key}.end") if "end" in m else None
        if start and end and end < start:
            self.fail(m["end"], f"{key}.end", f"{end} is before start {start}; swap them")
        return Window(start, end)

    def match(self, node: yaml.Node, key: str) -> Match:
        m = self.mapping(node, key, MATCH_KEYS)
        if not m:
            self.fail(node, key, f"needs at least one of: {', '.join(MATCH_KEYS)}")
        vals = {k: self.string(v, f"{key}.{k}").strip().lower() for k, v in m.items()}
        return Match(**vals)

    def rate_map(self, node: yaml.Node, key: str, allowed: tuple[str, ...]) -> dict[str, Decimal]:
        m = self.mapping(node, key, allowed)
        if not m:
            self.fail(node, key, f"needs at least one of: {', '.join(allowed)}")
        return {k: self.number(v, f"{key}.{k}") for k, v in m.items()}

    def custom_model(self, node: yaml.Node, key: str) -> tuple[str, gp_types.ModelInfo]:
        allowed = (
            "provider",
            "id",
            "name",
            "match",
            "prices",
            "price_variants",
            "context_window",
            "description",
        )
        m = self.mapping(node, key, allowed, required=("provider", "id", "prices"))
        billing = billing_provider(self.string(m["provider"], f"{key}.provider"))
        self.model_prices(m["prices"], f"{key}.prices")
        for i, variant in enumerate(self.sequence(m.get("price_variants"), f"{key}.price_variants")):
            vm = self.mapping(
                variant,
                f"{key}.price_variants[{i}]",
                ("when", "prices", "constraint"),
                required=("when", "prices"),
            )
            self.price_map(vm["prices"], f"{key}.price_variants[{i}].prices")
        raw = {k: _plain(v) for k, v in m.items() if k != "provider"}
        raw.setdefault("match", {"equals": raw["id"]})
        try:
            from genai_prices.types import _providers_from_raw

            wrapper = [{"id": billing, "name": billing, "api_pattern": "", "models": [raw]}]
            info = _providers_from_raw(wrapper)[0].models[0]
        except Exception as exc:
            loc, msg = _pydantic_problem(exc)
            loc = loc[3:] if loc[:3] == (0, "models", 0) else loc
            self.fail(
                _node_at(node, loc) or node,
                ".".join([key, *map(str, loc)]),
                f"{msg}; see genai-prices' model schema",
            )
            raise
        return billing, info

    def model_prices(self, node: yaml.Node, key: str) -> None:
        """A model's ``prices``: one price map, or a list of ``{constraint, prices}`` (dated prices)."""
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                cm = self.mapping(item, f"{key}[{i}]", ("constraint", "prices"), required=("prices",))
                self.price_map(cm["prices"], f"{key}[{i}].prices")
                if "constraint" in cm:
                    c = self.mapping(
                        cm["constraint"], f"{key}[{i}].constraint", ("start_date", "start_time", "end_time")
                    )
                    if "start_date" in c:
                        self.day(c["start_date"], f"{key}[{i}].constraint.start_date")
        else:
            self.price_map(node, key)

    def price_map(self, node: yaml.Node, key: str) -> None:
        """genai-prices price keys to numbers (or ``{base, tiers: [{start, price}]}``)."""
        from genai_prices.units import _get_registry

        allowed = tuple(sorted(_get_registry()._all_price_keys))
        for name, value in self.mapping(node, key, allowed).items():
            if isinstance(value, yaml.MappingNode):
                tm = self.mapping(value, f"{key}.{name}", ("base", "tiers"), required=("base", "tiers"))
                self.number(tm["base"], f"{key}.{name}.base")
                for j, tier in enumerate(self.sequence(tm["tiers"], f"{key}.{name}.tiers")):
                    t = self.mapping(tier, f"{key}.{name}.tiers[{j}]", ("start", "price"), required=("start", "price"))
                    self.number(t["start"], f"{key}.{name}.tiers[{j}].start")
                    self.number(t["price"], f"{key}.{name}.tiers[{j}].price")
            else:
                self.number(value, f"{key}.{name}")

    def alias(self, node: yaml.Node, key: str) -> Alias:
        m = self.mapping(node, key, ("provider", "model", "price_like"), required=("model", "price_like"))
        like = self.mapping(m["price_like"], f"{key}.price_like", ("provider", "model"), required=("model",))
        match = Match(
            provider=self.string(m["provider"], f"{key}.provider").lower() if "provider" in m else None,
            model=self.string(m["model"], f"{key}.model").lower(),
        )
        to_provider = (
            billing_provider(self.string(like["provider"], f"{key}.price_like.provider"))
            if ("provider" in like)
            else None
        )
        return Alias(match, to_provider, self.string(like["model"], f"{key}.price_like.model"), _line(node))

    def rate(self, node: yaml.Node, key: str) -> RateRule:
        m = self.mapping(node, key, ("match", "start", "end", "prices", "uplift", "note"), required=("match",))
        if "prices" not in m and "uplift" not in m:
            self.fail(node, key, "needs 'prices' (per-MTok list rates) or 'uplift' (a multiplier on list rates)")
        prices = self.rate_map(m["prices"], f"{key}.prices", RATE_KEYS) if "prices" in m else {}
        uplift = self.number(m["uplift"], f"{key}.uplift", positive=True) if "uplift" in m else None
        return RateRule(self.match(m["match"], f"{key}.match"), self.window(m, key), prices, uplift, _line(node))

    def contract(self, node: yaml.Node, key: str) -> Contract:
        allowed = ("name", "match", "start", "end", "multiplier", "multipliers", "note")
        m = self.mapping(node, key, allowed, required=("name", "match"))
        if ("multiplier" in m) == ("multipliers" in m):
            self.fail(node, key, "give exactly one of 'multiplier' (all buckets) or 'multipliers' (per bucket)")
        if "multiplier" in m:
            mults = {"*": self.number(m["multiplier"], f"{key}.multiplier")}
        else:
            mults = self.rate_map(m["multipliers"], f"{key}.multipliers", (*BUCKETS, "cache_write", "*"))
            if "cache_write" in mults:
                for b in CACHE_WRITE_BUCKETS:
                    mults.setdefault(b, mults["cache_write"])
        return Contract(
            self.string(m["name"], f"{key}.name"),
            self.match(m["match"], f"{key}.match"),
            self.window(m, key),
            mults,
            _line(node),
        )

    def committed(self, node: yaml.Node, key: str) -> Committed:
        allowed = (
            "name",
            "match",
            "start",
            "end",
            "fee_per_hour",
            "marginal_multiplier",
            "marginal_prices",
            "capacity_tokens_per_minute",
            "note",
        )
        m = self.mapping(node, key, allowed, required=("name", "match", "fee_per_hour"))
        if "marginal_multiplier" in m and "marginal_prices" in m:
            self.fail(node, key, "give 'marginal_multiplier' or 'marginal_prices', not both")
        return Committed(
            self.string(m["name"], f"{key}.name"),
            self.match(m["match"], f"{key}.match"),
            self.window(m, key),
            self.number(m["fee_per_hour"], f"{key}.fee_per_hour"),
            self.number(m["marginal_multiplier"], f"{key}.marginal_multiplier")
            if "marginal_multiplier" in m
            else Decimal(0),
            self.rate_map(m["marginal_prices"], f"{key}.marginal_prices", RATE_KEYS) if "marginal_prices" in m else {},
            _line(node),
            self.number(m["capacity_tokens_per_minute"], f"{key}.capacity_tokens_per_minute", positive=True)
            if "capacity_tokens_per_minute" in m
            else None,
        )


def _plain(node: yaml.Node) -> Any:
    """A node as plain Python; numbers become Decimal from their literal text (0.1 stays exactly 0.1)."""
    if isinstance(node, yaml.MappingNode):
        return {str(k.value): _plain(v) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v) for v in node.value]
    tag, value = node.tag, node.value
    converters: dict[str, Callable[[str], Any]] = {
        "tag:yaml.org,2002:int": lambda s: int(s.replace("_", ""), 0),
        "tag:yaml.org,2002:float": lambda s: Decimal(s.replace("_", "")),
        "tag:yaml.org,2002:bool": lambda s: s.lower() in ("true", "yes", "on"),
        "tag:yaml.org,2002:null": lambda s: None,
    }
    conv = converters.get(tag)
    if conv is None:
        return value
    try:
        return conv(value)
    except (ValueError, InvalidOperation):
        return value


def _node_at(node: yaml.Node, loc: tuple[Any, ...]) -> yaml.Node | None:
    """The node at a pydantic error location, as deep as it can be followed."""
    cur: yaml.Node = node
    for part in loc:
        if isinstance(cur, yaml.MappingNode):
            nxt = next((v for k, v in cur.value if k.value == str(part)), None)
        elif isinstance(cur, yaml.SequenceNode) and isinstance(part, int) and part < len(cur.value):
            nxt = cur.value[part]
        else:
            nxt = None
        if nxt is None:
            return cur
        cur = nxt
    return cur


def _pydantic_problem(exc: Exception) -> tuple[tuple[Any, ...], str]:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = tuple(p for p in first.get("loc", ()) if not (isinstance(p, str) and p[:1].isupper()))
        return loc, str(first.get("msg", exc))
    return (), str(exc)
