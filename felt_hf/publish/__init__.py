"""Stage 3: checking a converted folder or a download (verify) and pushing it to the hub."""
