"""Stage 1: reading FELT inputs (zips/folders of Py-Feat CSVs, media files) and writing FELT-shaped CSVs."""
