"""The notices service: decision and correction notices as print-ready postcards (issue 8)."""
