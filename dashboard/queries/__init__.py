"""SQL as named constants with bound parameters, and the Core tables used to build writes."""
