"""Every write of the invoicing app, one module per concern.

- `metering` — inventory → usage_records, one UTC day at a time (SPEC §11);
- `llm_usage` — LLM gateway events and the llm_tokens usage they meter (SPEC §12);
- `rollup` — month-end invoicing: one invoice per tenant and period (SPEC §13);
- `invoices` — an invoice's status changes: issue, mark paid, void (SPEC §13).
"""
