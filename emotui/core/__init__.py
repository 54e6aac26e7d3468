"""Pure-Python core: config schema, run store, metric events, errors. Imports nothing heavy."""
