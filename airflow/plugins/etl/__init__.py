"""Data contract, lake I/O and the ETL that publishes versioned training datasets."""
