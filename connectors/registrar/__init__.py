"""Registrar files (CAMS, KFintech): DBF, or XLSX/CSV that arrive named .dbf or .xls."""
