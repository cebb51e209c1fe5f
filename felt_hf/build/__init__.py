"""Stage 2: typed rows, the Felt builder, the converted folder (parquet shards, card, statistics)."""
