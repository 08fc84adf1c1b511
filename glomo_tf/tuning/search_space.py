"""Search spaces of `glomo tune`: plain dicts, checked before any trial runs.

A search space maps a hyper-parameter name to a spec, one of

- `{"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"}` (optional `step`,
  `default`; sampling `linear`, `log` or `reverse_log`),
- `{"type": "int", "min": 1, "max": 4}` (optional `step`, `sampling`, `default`),
- `{"type": "choice", "values": [1, 2, 4]}` (optional `default`),
- `{"type": "boolean"}` (optional `default`),
- `{"type": "fixed", "value": 2}` (not searched),

plus an optional `"parent": [name, [values...]]`: the hyper-parameter is only active when
`name` takes one of `values` (keras-tuner's conditional hyper-parameters).

Each hypermodel has a default space; a user's overrides (`--space JSON`) are merged into
it per name. An override may be a full spec, a partial one (`{"max": 0.3}` keeps the
type and the other keys), a list (shorthand for a choice) or a scalar (shorthand for a
fixed value). Mistakes — an unknown name or type, `min > max`, a log range that touches
0, an empty choice, a default outside the range — raise `ValueError` naming the
hyper-parameter, before TensorFlow is even imported.
"""

import copy
import json
import math
import os

# `glomo tune --transfer`: fixed per search, so the baselines get the same budget as GLoMo.
TRANSFER_MODES = ("none", "uniform", "glomo")
TYPES = ("float", "int", "choice", "boolean", "fixed")
SAMPLINGS = ("linear", "log", "reverse_log")
_KEYS = {
    "float": {"type", "min", "max", "step", "sampling", "default", "parent"},
    "int": {"type", "min", "max", "step", "sampling", "default", "parent"},
    "choice": {"type", "values", "default", "parent"},
    "boolean": {"type", "default", "parent"},
    "fixed": {"type", "value", "parent"},
}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_spec(name, spec):
    """Raises `ValueError` if `spec` is not a valid spec of hyper-parameter `name`."""
    where = f"search space: hyper-parameter {name!r}"
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: expected a dict spec, got {spec!r}.")
    kind = spec.get("type")
    if kind not in TYPES:
        raise ValueError(f"{where}: unknown type {kind!r}; expected one of {TYPES}.")
    unknown = sorted(set(spec) - _KEYS[kind])
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown} for type {kind!r}.")
    if kind in ("float", "int"):
        check = _is_int if kind == "int" else _is_number
        for key in ("min", "max"):
            if key not in spec or not check(spec[key]):
                raise ValueError(f"{where}: {key!r} must be a finite {kind}, got {spec.get(key)!r}.")
        low, high = spec["min"], spec["max"]
        if low > high:
            raise ValueError(f"{where}: min ({low}) > max ({high}).")
        sampling = spec.get("sampling", "linear")
        if sampling not in SAMPLINGS:
            raise ValueError(f"{where}: unknown sampling {sampling!r}; expected one of {SAMPLINGS}.")
        if sampling != "linear" and low <= 0:
            raise ValueError(f"{where}: {sampling} sampling needs min > 0, got {low}.")
        if "step" in spec and spec["step"] is not None:
            if not check(spec["step"]) or spec["step"] <= 0:
                raise ValueError(f"{where}: step must be a positive {kind}, got {spec['step']!r}.")
        if "default" in spec and (not check(spec["default"]) or not low <= spec["default"] <= high):
            raise ValueError(f"{where}: default {spec['default']!r} is outside [{low}, {high}].")
    elif kind == "choice":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: 'values' must be a non-empty list, got {values!r}.")
        kinds = {type(v) for v in values}
        if len(kinds) > 1 and not kinds <= {int, float}:
            raise ValueError(f"{where}: choice values must share one type, got {values!r}.")
        if not kinds <= {int, float, str, bool}:
            raise ValueError(
                f"{where}: choice values must be numbers, strings or booleans, got {values!r}.")
        if len(set(values)) != len(values):
            raise ValueError(f"{where}: choice values repeat: {values!r}.")
        if "default" in spec and spec["default"] not in values:
            raise ValueError(f"{where}: default {spec['default']!r} is not one of {values!r}.")
    elif kind == "boolean":
        if "default" in spec and not isinstance(spec["default"], bool):
            raise ValueError(f"{where}: default must be true or false, got {spec['default']!r}.")
    elif "value" not in spec:
        raise ValueError(f"{where}: a fixed hyper-parameter needs 'value'.")
    parent = spec.get("parent")
    if parent is not None and (not isinstance(parent, (list, tuple)) or len(parent) != 2
                               or not isinstance(parent[0], str)
                               or not isinstance(parent[1], (list, tuple)) or not parent[1]):
        raise ValueError(f"{where}: 'parent' must be [name, [values, ...]], got {parent!r}.")


def _override(name, base, override):
    if isinstance(override, list):
        override = {"type": "choice", "values": override}
    elif not isinstance(override, dict):
        override = {"type": "fixed", "value": override}
    if "type" in override and override["type"] != base["type"]:
        # A new type replaces the spec; only the condition carries over.
        merged = dict(override)
        if "parent" in base and "parent" not in merged:
            merged["parent"] = base["parent"]
        return merged
    merged = {**base, **override}
    if "default" not in override and "default" in merged:
        # The old default may fall outside the new range: drop it rather than fail.
        try:
            _check_spec(name, merged)
        except ValueError:
            merged.pop("default")
    return merged


def resolve_space(defaults, overrides=None):
    """The default space with `overrides` merged in, every spec checked.

    Args:
        defaults: `{name: spec}` of a hypermodel.
        overrides: `{name: spec | partial spec | list | scalar}`, or None.

    Returns:
        A new `{name: spec}`.

    Raises:
        ValueError: unknown names, bad specs, or a `parent` naming no hyper-parameter.

    Example:

    >>> space = resolve_space({"dropout": {"type": "float", "min": 0.0, "max": 0.5}},
    ...                       {"dropout": {"max": 0.3}})
    >>> space["dropout"]["max"]
    0.3
    """
    space = copy.deepcopy(defaults)
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        raise ValueError(f"search space overrides must be a JSON object, got {overrides!r}.")
    unknown = sorted(set(overrides) - set(space))
    if unknown:
        raise ValueError(
            f"search space: unknown hyper-parameter(s) {unknown}; this search tunes "
            f"{sorted(space)}.")
    for name, override in overrides.items():
        space[name] = _override(name, space[name], override)
    for name, spec in space.items():
        _check_spec(name, spec)
        parent = spec.get("parent")
        if parent is not None and parent[0] not in space:
            raise ValueError(
                f"search space: hyper-parameter {name!r} depends on {parent[0]!r}, which is "
                "not in the space.")
    return space


def parse_space(text):
    """`--space` as given on the command line: inline JSON or a path to a JSON file."""
    if text is None:
        return None
    if os.path.isfile(text):
        with open(text, encoding="utf-8") as f:
            text = f.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--space is neither a JSON file nor valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ValueError(f"--space must be a JSON object of hyper-parameter specs, got {value!r}.")
    return value


def spec_values(spec):
    """Every value a spec can take (int/choice/boolean/fixed), or None for a float range."""
    kind = spec["type"]
    if kind == "int":
        return list(range(spec["min"], spec["max"] + 1, spec.get("step") or 1))
    if kind == "choice":
        return list(spec["values"])
    if kind == "boolean":
        return [False, True]
    if kind == "fixed":
        return [spec["value"]]
    return None


def declare(hp, name, spec):
    """Declares hyper-parameter `name` on keras-tuner's `hp` and returns its value.

    Inactive conditional hyper-parameters return None.
    """
    kwargs = {}
    parent = spec.get("parent")
    if parent is not None:
        kwargs = {"parent_name": parent[0], "parent_values": list(parent[1])}
    kind = spec["type"]
    if kind == "float":
        return hp.Float(name, spec["min"], spec["max"], step=spec.get("step"),
                        sampling=spec.get("sampling", "linear"), default=spec.get("default"),
                        **kwargs)
    if kind == "int":
        return hp.Int(name, spec["min"], spec["max"], step=spec.get("step"),
                      sampling=spec.get("sampling", "linear"), default=spec.get("default"),
                      **kwargs)
    if kind == "choice":
        return hp.Choice(name, spec["values"], default=spec.get("default"), **kwargs)
    if kind == "boolean":
        return hp.Boolean(name, default=spec.get("default", False), **kwargs)
    return hp.Fixed(name, spec["value"], **kwargs)


def transfer_space(transfer, dropout=0.2, learning_rate=1e-3, num_mixtures=2):
    """The default search space of a transfer mode (defaults = the released settings).

    Args:
        transfer: "none", "uniform" or "glomo".
        dropout, learning_rate, num_mixtures: the defaults of the task's model.

    Returns:
        `{name: spec}` (see `glomo_tf.tuning.search_space`): `dropout` and
        `learning_rate`, and for "glomo" also `num_mixtures`, `hierarchical`
        (candidates with the products `Λ^l`) and `token_conditioned`.
    """
    if transfer not in TRANSFER_MODES:
        raise ValueError(f"Unknown transfer {transfer!r}; expected one of {TRANSFER_MODES}.")
    space = {
        "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.1, "default": dropout},
        "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log",
                          "default": learning_rate},
    }
    if transfer == "glomo":
        space.update({
            "num_mixtures": {"type": "choice", "values": [1, 2, 3, 4], "default": num_mixtures},
            "hierarchical": {"type": "boolean", "default": True},
            "token_conditioned": {"type": "boolean", "default": True},
        })
    return space
