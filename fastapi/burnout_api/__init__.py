"""The serving service: one inference core behind REST, GraphQL and gRPC."""
