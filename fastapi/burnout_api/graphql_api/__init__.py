"""GraphQL adapter (strawberry) over the inference core, mounted at /graphql."""
