"""kopf handlers (top layer): watch events in, adapters and the pure core do the work."""
