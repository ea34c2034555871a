"""What a sweep draws a hyperparameter from: choices, uniform, log-uniform, integer range. Pure."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.core import config as cfgmod
from engine.core.config import Problem
from engine.core.errors import GptTuiError

# An integer range this wide or less is expanded value by value for a grid.
GRID_INT_LIMIT = 1000


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]

    def text(self) -> str:
        return ",".join(_value_text(v) for v in self.values)


@dataclass(frozen=True)
class _Range:
    """LO:HI, written with the prefix that names the kind of range."""

    lo: float
    hi: float
    prefix: ClassVar[str] = ""

    def text(self) -> str:
        return f"{self.prefix}{self.lo!r}:{self.hi!r}"


class Uniform(_Range):
    pass


class LogUniform(_Range):
    prefix = "log:"


@dataclass(frozen=True)
class IntRange(_Range):
    lo: int
    hi: int
    prefix: ClassVar[str] = "int:"


Distribution = Choice | Uniform | LogUniform | IntRange


def _value_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


# -- drawing ----------------------------------------------------------------------------


def sample(d: Distribution, rng: random.Random) -> Any:
    """One value of `d`, always inside its bounds."""
    if isinstance(d, Choice):
        return d.values[rng.randrange(len(d.values))]
    if isinstance(d, IntRange):
        return rng.randint(d.lo, d.hi)
    if isinstance(d, LogUniform):
        value = math.exp(rng.uniform(math.log(d.lo), math.log(d.hi)))
    else:
        value = rng.uniform(d.lo, d.hi)
    return min(max(value, d.lo), d.hi)  # exp() and float rounding may step just outside


def grid_values(d: Distribution) -> tuple[Any, ...] | None:
    """Every value a grid tries, or None for a continuous range (a grid cannot enumerate it)."""
    if isinstance(d, Choice):
        return d.values
    if isinstance(d, IntRange) and d.hi - d.lo < GRID_INT_LIMIT:
        return tuple(range(d.lo, d.hi + 1))
    return None


def contains(d: Distribution, value: Any) -> bool:
    if isinstance(d, Choice):
        return any(value == v and type(value) is type(v) for v in d.values)
    if isinstance(d, IntRange):
        return isinstance(value, int) and not isinstance(value, bool) and d.lo <= value <= d.hi
    return isinstance(value, (int, float)) and not isinstance(value, bool) and d.lo <= value <= d.hi


# -- parsing ----------------------------------------------------------------------------


class DistributionError(GptTuiError):
    """A distribution text or table that cannot be used; the message says what to write."""


def parse(name: str, text: str) -> Distribution:
    """The CLI forms: `a,b,c` choices, `lo:hi` uniform, `log:lo:hi`, `int:lo:hi`.

    Values are typed with the field's type; DistributionError says what is wrong and what to write.
    """
    t = cfgmod.field_type(name)
    s = text.strip()
    if t in (str, bool) or ":" not in s:
        return Choice(_typed_choices(name, s))
    head, _, rest = s.partition(":")
    kind = head.strip().lower()
    if kind in ("log", "int"):
        parts = rest.split(":")
    else:
        kind, parts = "uniform", s.split(":")
    example = {"log": "log:1e-4:1e-3", "int": "int:8:16", "uniform": "0:0.2"}[kind]
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise DistributionError(
            f"{text!r} must look like {'' if kind == 'uniform' else kind + ':'}LO:HI, e.g. {name}={example}"
        )
    if kind == "int" or (kind == "uniform" and t is int):
        if t is not int:
            raise DistributionError(
                f"int:LO:HI needs an integer field and {name} is {_kind(t)}; write {name}=LO:HI for a uniform range"
            )
        lo, hi = (_typed(name, p) for p in parts)
        return _ordered(name, IntRange(lo, hi))
    if t is int:
        raise DistributionError(
            f"log:LO:HI needs a number field and {name} is an integer; write {name}=int:LO:HI or a list of values"
        )
    lo, hi = (_typed(name, p) for p in parts)
    if kind == "log" and lo <= 0:
        raise DistributionError(f"log:{lo!r}:{hi!r}: a log-uniform range must start above 0")
    return _ordered(name, LogUniform(lo, hi) if kind == "log" else Uniform(lo, hi))


def _ordered(name: str, d: Distribution) -> Distribution:
    if d.lo > d.hi:
        fixed = type(d)(d.hi, d.lo).text()
        raise DistributionError(
            f"{d.text()}: the low end {d.lo!r} is above the high end {d.hi!r}; write {name}={fixed}"
        )
    return d


def _typed(name: str, text: str) -> Any:
    try:
        return cfgmod.coerce_text(name, text)
    except ValueError as e:
        raise DistributionError(str(e)) from None


def _typed_choices(name: str, text: str) -> tuple[Any, ...]:
    parts = [p for p in (p.strip() for p in text.split(",")) if p]
    if not parts:
        raise DistributionError(f"no values given; write a list such as {name}={_example(name)}")
    values = tuple(_typed(name, p) for p in parts)
    if len(set(map(repr, values))) != len(values):
        raise DistributionError(f"{text!r} lists a value twice")
    return values


def _kind(t: type) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "text"}[t]


def _example(name: str) -> str:
    return {int: "8,12,16", float: "1e-4,3e-4,6e-4", bool: "true,false", str: "a,b"}[cfgmod.field_type(name)]


def parse_problem(name: str, text: str) -> tuple[Distribution | None, Problem | None]:
    """parse(), with an unknown field or a bad text returned as a Problem naming the field."""
    if name not in cfgmod.FIELDS:
        return None, cfgmod.unknown_key(name)
    try:
        return parse(name, text), None
    except DistributionError as e:
        return None, Problem(name, str(e))


# -- TOML form: a list of choices, or the CLI text of a range -------------------------------


def to_toml_value(d: Distribution) -> Any:
    return list(d.values) if isinstance(d, Choice) else d.text()


def from_toml_value(name: str, value: Any) -> tuple[Distribution | None, Problem | None]:
    if name not in cfgmod.FIELDS:
        return None, cfgmod.unknown_key(name)
    if isinstance(value, str) and cfgmod.field_type(name) is not str:
        return parse_problem(name, value)
    items = value if isinstance(value, list) else [value]
    if not items:
        return None, Problem(name, f"an empty list of choices; give values such as {name} = [{_example(name)}]")
    try:
        typed = tuple(cfgmod.check_type(name, v) for v in items)
    except ValueError as e:
        return None, Problem(name, str(e))
    if len(set(map(repr, typed))) != len(typed):
        return None, Problem(name, f"{items!r} lists a value twice")
    return Choice(typed), None
