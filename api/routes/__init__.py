"""The app's routes, one router per area: search, documents, service (health, admin), web pages."""
