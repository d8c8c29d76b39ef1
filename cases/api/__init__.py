"""The REST API for the ticketing system: API-key auth, scopes, serializers, views, webhooks."""
