"""Programs the park's partners run on their side (today: the resident firms' client)."""
