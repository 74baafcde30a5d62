"""Pure domain code: values in, values out; no I/O, no database, no clock."""
