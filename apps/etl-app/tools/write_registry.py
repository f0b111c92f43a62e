"""Regenerate the bundled schema registry files (run once when a contract changes on purpose).

    python apps/etl-app/tools/write_registry.py

Each subject gets ``v1.yaml``; later versions are added with ``SchemaRegistry.register`` so the
compatibility mode is enforced.
"""

from __future__ import annotations

from pathlib import Path

from schema_registry import Field, SchemaRegistry, TableSchema

REGISTRY = Path(__file__).parents[1] / "src" / "etl_app" / "resources" / "schemas"

INGESTION = [
    Field("ingested_at", "timestamp", False, "When the row was appended to bronze (UTC)."),
    Field("source_file", "string", False, "Input file the row came from."),
    Field("run_id", "string", False, "Run that ingested the row."),
    Field("batch_id", "bigint", False, "Stable batch id of the input file (Delta txnVersion)."),
]

SUBJECTS: dict[str, TableSchema] = {
    "bronze.customers": TableSchema(
        [
            Field("customer_id", "string", description="Customer key as delivered."),
            Field("name", "string"),
            Field("email", "string"),
            Field("country", "string", description="ISO 3166-1 alpha-2 code as delivered."),
            Field("segment", "string"),
            Field("updated_at", "string", description="When the source changed the customer."),
            *INGESTION,
        ],
        description="Raw customer rows, one per delivered CSV line; every value as text.",
    ),
    "bronze.orders": TableSchema(
        [
            Field("order_id", "string", description="Order key as delivered."),
            Field("customer_id", "string"),
            Field("order_ts", "string"),
            Field("amount", "string"),
            Field("status", "string"),
            Field("country", "string"),
            *INGESTION,
        ],
        description="Raw order rows, one per delivered JSON line; every value as text.",
    ),
    "silver.customers": TableSchema(
        [
            Field("customer_id", "bigint", description="Business key (never NULL: gated)."),
            Field("name", "string"),
            Field("email", "string", description="Lower-cased."),
            Field("country", "string", description="ISO 3166-1 alpha-2, upper-cased."),
            Field("segment", "string", description="retail, smb or enterprise."),
            Field("updated_at", "timestamp", description="Source change time (SCD2 effective)."),
            Field("batch_id", "bigint", description="Bronze batch that delivered this version."),
            Field("valid_from", "timestamp", description="SCD2: version valid from (inclusive)."),
            Field(
                "valid_to",
                "timestamp",
                description="SCD2: valid until (exclusive); NULL if current.",
            ),
            Field("is_current", "boolean", description="SCD2: the customer's current version."),
        ],
        description="Customer dimension, SCD Type 2: one row per version of a customer.",
    ),
    "silver.orders": TableSchema(
        [
            Field("order_id", "bigint", description="Business key (never NULL: gated)."),
            Field("customer_id", "bigint"),
            Field("order_ts", "timestamp"),
            Field("order_date", "date", description="UTC date of order_ts."),
            Field("amount", "decimal(12,2)", description="Order amount, 0 to 1,000,000."),
            Field("status", "string", description="completed, shipped, pending or cancelled."),
            Field("country", "string", description="ISO 3166-1 alpha-2 shipping country."),
            Field("batch_id", "bigint", description="Bronze batch of the latest version."),
        ],
        description="Orders, one row per order_id (latest delivered version).",
    ),
    "gold.daily_revenue": TableSchema(
        [
            Field("order_date", "date"),
            Field("country", "string"),
            Field("order_count", "bigint", False, "Revenue orders (completed or shipped)."),
            Field("revenue", "decimal(18,2)", description="Sum of revenue order amounts."),
        ],
        description="Revenue per order date and country; partitioned by order_date.",
    ),
    "gold.customer_lifetime_value": TableSchema(
        [
            Field("customer_id", "bigint"),
            Field("name", "string"),
            Field("email", "string"),
            Field("country", "string", description="Current country (SCD2 current row)."),
            Field("segment", "string"),
            Field("order_count", "bigint", False),
            Field("lifetime_value", "decimal(18,2)"),
            Field("first_order_date", "date"),
            Field("last_order_date", "date"),
        ],
        description="Lifetime value of each customer with at least one revenue order.",
    ),
}


#: Versions after v1, oldest first; each is registered against its subject's mode.
LATER: dict[str, list[TableSchema]] = {
    "gold.customer_lifetime_value": [
        TableSchema(
            [
                *SUBJECTS["gold.customer_lifetime_value"].fields,
                Field(
                    "revenue_days",
                    "array<struct<order_date:date,orders:bigint>>",
                    description=(
                        "Revenue orders per order date, oldest first: a batch moves first / "
                        "last order dates without reading the customer's other orders."
                    ),
                ),
            ],
            description=SUBJECTS["gold.customer_lifetime_value"].description,
        )
    ],
}


def main() -> None:
    """Write v1 of every subject, then the later versions (an existing version is kept)."""
    registry = SchemaRegistry(REGISTRY)
    for name, schema in SUBJECTS.items():
        if not registry.versions(name):
            registry.register(name, schema, compatibility="BACKWARD")
        for later in LATER.get(name, []):
            registry.register(name, later)
        print(name, registry.versions(name))


if __name__ == "__main__":
    main()
