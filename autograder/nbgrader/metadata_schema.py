"""nbgrader's cell-metadata schema, checked and compiled once for a whole ``nbgrader autograde`` run.

nbgrader validates each cell's ``nbgrader`` metadata with ``jsonschema.validate(metadata,
schema)``, which first checks the *schema itself* against the JSON Schema
meta-schema and builds a new validator: on every cell, about 1,500 times for
20 submissions of three notebooks, and most of the time ``CheckCellMetadata``
and ``OverwriteCells`` took (see BENCHMARKS.md, "Autograde through nbgrader").

:func:`compiled_metadata_schema` gives nbgrader's validation module a
``jsonschema`` whose ``validate`` checks each distinct schema once and reuses
its validator; the verdict on every cell, and the error raised (the best match
among the cell's errors), are those of ``jsonschema.validate``.
"""
from __future__ import annotations

import json
import types
from collections.abc import Iterator
from contextlib import contextmanager

import jsonschema
import nbgrader.nbgraderformat.common as nbgrader_format


class CompiledSchemas:
    """``jsonschema.validate``, with each distinct schema checked and compiled once.

    Attributes
    ----------
    validators : dict
        The compiled validators, by schema (and validator class and options) as JSON text.
    """

    def __init__(self):
        self.validators: dict[str, object] = {}

    def validate(self, instance, schema, cls=None, *args, **kwargs) -> None:
        """Raise the ``jsonschema.ValidationError`` that ``jsonschema.validate`` raises, if any.

        Inputs
        ------
        instance : object
            The JSON value to validate (a cell's ``nbgrader`` metadata).
        schema : dict
            Its JSON Schema.
        cls, *args, **kwargs
            As for ``jsonschema.validate``.
        """
        key = json.dumps([schema, getattr(cls, "__qualname__", None), repr(args), repr(sorted(kwargs.items()))],
                         sort_keys=True, default=repr)
        validator = self.validators.get(key)
        if validator is None:
            kind = cls or jsonschema.validators.validator_for(schema)
            kind.check_schema(schema)
            validator = self.validators[key] = kind(schema, *args, **kwargs)
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error


@contextmanager
def compiled_metadata_schema() -> Iterator[CompiledSchemas]:
    """Within the block, nbgrader's metadata validation compiles each schema once.

    Yields
    ------
    CompiledSchemas
        The validation nbgrader uses in the block.
    """
    original = nbgrader_format.jsonschema
    compiled = CompiledSchemas()
    nbgrader_format.jsonschema = types.SimpleNamespace(validate=compiled.validate)
    try:
        yield compiled
    finally:
        nbgrader_format.jsonschema = original
