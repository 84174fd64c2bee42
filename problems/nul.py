"""Requests may not carry NUL characters in their text: PostgreSQL refuses them in text
values, so one reaching a query or a row would be a server error. `RefuseNulCharactersMiddleware`
refuses them as a bad request, naming the parameter or field that holds one, before any view
sees them."""

from typing import Any

NUL = "\x00"
MESSAGE = "Null characters are not allowed."


def shown(name: str) -> str:
    """A parameter name as an error may name it: a NUL in the name itself shown as `\\0`."""
    return name.replace(NUL, "\\0")


def nul_fields(data: Any, prefix: str = "") -> list[str]:
    """Where a NUL occurs in parsed JSON, as dotted paths (`custom.note`, `tags.0`); a key
    that holds one is named itself."""
    if isinstance(data, str):
        return [prefix or "non_field_errors"] if NUL in data else []
    if isinstance(data, dict):
        found: list[str] = []
        for key, value in data.items():
            path = f"{prefix}.{shown(str(key))}" if prefix else shown(str(key))
            if NUL in str(key):
                found.append(path)
            else:
                found.extend(nul_fields(value, path))
        return found
    if isinstance(data, list):
        return [
            path
            for index, item in enumerate(data)
            for path in nul_fields(item, f"{prefix}.{index}" if prefix else str(index))
        ]
    return []


def nul_parameters(items: Any) -> list[str]:
    """The names of the parameters of a QueryDict (`lists()`) whose name or a value has a NUL."""
    return [
        shown(name)
        for name, values in items
        if NUL in name or any(NUL in value for value in values)
    ]
