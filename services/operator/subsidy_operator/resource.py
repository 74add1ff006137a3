"""The SubsidyProgram custom resource: its names and its CRD (`build_crd`), pure.

The CRD's `spec.definition` mirrors the rules library's program definition format
(subsidy_rules.program and subsidy_rules.parameters, documented in docs/PROGRAMS.md): the same
keys, the item vocabulary, the known parameters with their value shapes, the pledges. It is
structural (every field typed), so an unknown key is refused by `kubectl apply`'s strict
field validation; the rules library's loader still validates everything (dated histories,
known rule names, periods in order) when the operator reconciles.
`spec.lifecycle` carries what the operator needs for the end of the contract: the end of
processing, the contract's end, the two approvers of the erasure and the ward's handover.

`python -m subsidy_operator.resource` prints the CRD (k8s/base/operator/crd.yaml is its output;
a unit test compares them).
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from subsidy_rules.application import PLEDGE_KEYS, PURCHASE_KINDS
from subsidy_rules.items import Item
from subsidy_rules.parameters import PARAMETERS

GROUP = "subsidy-platform.jp"
VERSION = "v1"
KIND = "SubsidyProgram"
PLURAL = "subsidyprograms"
SINGULAR = "subsidyprogram"
SHORT_NAMES = ("sp",)
API_VERSION = f"{GROUP}/{VERSION}"

Schema = dict[str, Any]

_TEXT: Schema = {"type": "string", "minLength": 1, "maxLength": 500}
_DATE: Schema = {"type": "string", "format": "date", "nullable": True}
_PERIOD: Schema = {"type": "object", "properties": {"start": _DATE, "end": _DATE}}


def _count(minimum: int, *, nullable: bool = False) -> Schema:
    schema: Schema = {"type": "integer", "minimum": minimum, "maximum": 100_000_000}
    if nullable:
        schema["nullable"] = True
    return schema


PARAMETER_VALUES: dict[str, Schema] = {
    "rate": {"x-kubernetes-int-or-string": True},
    "cap": _count(1, nullable=True),
    "rounding_unit": _count(1),
    "minimum_cost": _count(0),
    "application_period": _PERIOD,
    "purchase_period": _PERIOD,
    "purchase_within_days": _count(1, nullable=True),
    "applicant_min_age": _count(1, nullable=True),
    "household_limit": {
        "type": "object",
        "required": ["count"],
        "properties": {"count": _count(1), "reapply_after_years": _count(1, nullable=True)},
    },
    "required_pledges": {
        "type": "array",
        "maxItems": len(PLEDGE_KEYS),
        "items": {"type": "string", "enum": list(PLEDGE_KEYS)},
    },
    "exclude_points": {"type": "boolean"},
    "excluded_kinds": {
        "type": "array",
        "maxItems": len(PURCHASE_KINDS),
        "items": {"type": "string", "enum": list(PURCHASE_KINDS)},
    },
    "excluded_items": {
        "type": "array",
        "maxItems": len(Item) - 1,
        "items": {"type": "string", "enum": [i.value for i in Item if i is not Item.OTHER]},
    },
    "residence": {
        "type": "object",
        "required": ["prefecture", "city"],
        "properties": {"prefecture": _TEXT, "city": _TEXT},
    },
}
"""The value shape of every parameter the rules library knows (a test checks the names agree)."""


def _parameter(value: Schema) -> Schema:
    return {
        "type": "object",
        "properties": {
            "value": value,
            "source": _TEXT,
            "note": _TEXT,
            "unconfirmed": {"type": "boolean"},
            "history": {
                "type": "array",
                "minItems": 1,
                "maxItems": 50,
                "items": {
                    "type": "object",
                    "required": ["since", "value"],
                    "properties": {
                        "since": {"type": "string", "format": "date"},
                        "value": value,
                        "source": _TEXT,
                        "note": _TEXT,
                    },
                },
            },
        },
    }


def definition_schema() -> Schema:
    """The program definition (`spec.definition`): the rules library's file format."""
    item: Schema = {
        "type": "object",
        "required": ["source"],
        "properties": {
            "source": _TEXT,
            "cap": _count(1),
            "unconfirmed": {"type": "boolean"},
            "note": _TEXT,
        },
    }
    required_parameters = [name for name, (_, default) in PARAMETERS.items() if default is ...]
    return {
        "type": "object",
        "required": ["id", "name", "municipality", "items", "rules", "parameters"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$", "maxLength": 40},
            "name": _TEXT,
            "municipality": _TEXT,
            "fiscal_year": {"type": "string", "pattern": "^[0-9]{4}$"},
            "description": {"type": "string", "maxLength": 2000},
            "sources": {"type": "object", "additionalProperties": _TEXT, "maxProperties": 20},
            "items": {
                "type": "object",
                "minProperties": 1,
                "properties": {i.value: item for i in Item if i is not Item.OTHER},
            },
            "rules": {
                "type": "array",
                "minItems": 1,
                "maxItems": 50,
                "items": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "maxLength": 64},
            },
            "parameters": {
                "type": "object",
                "required": required_parameters,
                "properties": {name: _parameter(v) for name, v in PARAMETER_VALUES.items()},
            },
            "attachments": {
                "type": "array",
                "maxItems": 50,
                "items": {
                    "type": "object",
                    "required": ["kind", "label", "source"],
                    "properties": {
                        "kind": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "maxLength": 64},
                        "label": _TEXT,
                        "required": {"type": "boolean"},
                        "source": _TEXT,
                    },
                },
            },
            "application_number_prefix": {
                "type": "string",
                "pattern": "^[A-Z0-9]{1,16}$",
            },
        },
    }


def lifecycle_schema() -> Schema:
    """`spec.lifecycle`: dates of the end of processing and of the contract; the erasure."""
    return {
        "type": "object",
        "properties": {
            "processingEnd": {"type": "string", "format": "date"},
            "contractEnd": {"type": "string", "format": "date"},
            "erasureApprovers": {
                "type": "array",
                "maxItems": 5,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": _TEXT, "title": _TEXT},
                },
            },
            "handover": {
                "type": "object",
                "properties": {
                    "completed": {"type": "boolean"},
                    "completedOn": {"type": "string", "format": "date"},
                    "reference": _TEXT,
                    "recordedBy": _TEXT,
                },
            },
        },
    }


def status_schema() -> Schema:
    """`status`: written by the operator only (kopf keeps its own bookkeeping there too)."""
    return {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "phase": {
                "type": "string",
                "enum": ["Draft", "Open", "Closed", "Retention", "Erased", "Invalid"],
            },
            "message": {"type": "string"},
            "programId": {"type": "string"},
            "configMap": {"type": "string"},
            "observedGeneration": {"type": "integer"},
            "erasure": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition of SubsidyProgram."""
    spec_schema: Schema = {
        "type": "object",
        "required": ["definition"],
        "properties": {"definition": definition_schema(), "lifecycle": lifecycle_schema()},
    }
    columns = [
        ("Program", ".spec.definition.id", "string"),
        ("Phase", ".status.phase", "string"),
        ("Opens", ".spec.definition.parameters.application_period.value.start", "string"),
        ("Closes", ".spec.definition.parameters.application_period.value.end", "string"),
        ("Contract-End", ".spec.lifecycle.contractEnd", "string"),
        ("Age", ".metadata.creationTimestamp", "date"),
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "subsidy-platform"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": name, "jsonPath": path, "type": kind}
                        for name, path, kind in columns
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }


def crd_yaml() -> str:
    """The CRD as the YAML file kept in k8s/base/operator/crd.yaml."""
    header = "# Generated by `python -m subsidy_operator.resource`; do not edit by hand.\n"
    return header + yaml.dump(
        build_crd(), Dumper=_NoAliases, allow_unicode=True, sort_keys=False, width=100
    )


class _NoAliases(yaml.SafeDumper):
    """Writes shared sub-schemas out in full (no YAML anchors in a manifest)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


if __name__ == "__main__":
    sys.stdout.write(crd_yaml())
