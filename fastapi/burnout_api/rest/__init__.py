"""REST adapters over the inference core: one router per file, errors mapped once in `errors`."""
