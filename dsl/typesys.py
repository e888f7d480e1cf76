"""Types of the expression language, shared by the policy model (fact and rule declarations), the
type checker and the compiler."""

from __future__ import annotations

from dataclasses import dataclass

SCALARS = ("bool", "int", "decimal", "money", "date", "datetime", "time", "duration", "string")


@dataclass(frozen=True, slots=True)
class Type:
    """A type: a scalar name, ``enum`` with its values, ``list`` with its item type, or ``null``.

    >>> str(Type.list_of(Type("int")))
    'list of int'
    >>> Type.enum(("IBC", "IRC")).accepts(Type("string"))
    True
    """

    name: str
    values: tuple[str, ...] = ()
    item: Type | None = None

    @staticmethod
    def enum(values: tuple[str, ...]) -> Type:
        return Type("enum", values=tuple(values))

    @staticmethod
    def list_of(item: Type) -> Type:
        return Type("list", item=item)

    def __str__(self) -> str:
        if self.name == "enum":
            return "one of " + ", ".join(f'"{v}"' for v in self.values)
        if self.name == "list":
            return f"list of {self.item}"
        return self.name

    @property
    def is_numeric(self) -> bool:
        return self.name in ("int", "decimal")

    @property
    def is_textual(self) -> bool:
        return self.name in ("string", "enum")

    def accepts(self, other: Type) -> bool:
        """Whether a value of type ``other`` may stand where this type is declared."""
        if other.name in ("null", "any") or self.name == "any":
            return True
        if self.name == "list" and other.name == "list":
            assert self.item is not None and other.item is not None
            return self.item.accepts(other.item)
        if self.is_textual and other.is_textual:
            if self.name == "enum" and other.name == "enum":
                return set(other.values) <= set(self.values)
            return True
        if self.name == "decimal" and other.name == "int":
            return True
        return self.name == other.name


BOOL = Type("bool")
INT = Type("int")
DECIMAL = Type("decimal")
MONEY = Type("money")
DATE = Type("date")
DATETIME = Type("datetime")
TIME = Type("time")
DURATION = Type("duration")
STRING = Type("string")
NULL = Type("null")
ANY = Type("any")


def article(t: Type) -> str:
    """The type with its article, for messages: ``a date``, ``an int``, ``one of "IBC", …``.

    >>> article(Type("int")), article(Type("date"))
    ('an int', 'a date')
    """
    s = str(t)
    if s.startswith(("one of", "list")):
        return s
    return ("an " if s[0] in "aeiou" else "a ") + s


def unify(a: Type, b: Type) -> Type | None:
    """The type both ``a`` and ``b`` fit in, or None when there is none."""
    if a.name in ("null", "any"):
        return b
    if b.name in ("null", "any"):
        return a
    if a == b:
        return a
    if a.is_numeric and b.is_numeric:
        return DECIMAL
    if a.is_textual and b.is_textual:
        if a.name == "enum" and b.name == "enum":
            return Type.enum(tuple(dict.fromkeys(a.values + b.values)))
        return STRING
    if a.name == "list" and b.name == "list":
        assert a.item is not None and b.item is not None
        item = unify(a.item, b.item)
        return Type.list_of(item) if item is not None else None
    return None
