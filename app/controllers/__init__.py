"""HTTP controllers, one per area."""
