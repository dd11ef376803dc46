"""Every SQL statement of casebook lives in this package; no other module writes SQL.

- `index_db`: one build's documents, passages and their FTS5 full-text tables (read and write side).
- `embeddings`: the cache of vectors by model and exact model input, shared by builds.
- `searches`: the log of searches behind the gap report.
- `fts_tokenizer`: how FTS5 tokenizes a character, which `kb.text` mirrors for highlighting.
"""
