"""The store of push rows: the only code that reads or writes the push tables (`push_mappings`,
`push_customers`, `push_name_claims`, `push_mapping_sequences`; a test holds the rest of qb-sync
to that). One module per kind of write: intent, leases, outcomes, merges, name claims."""
