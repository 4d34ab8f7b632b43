"""Admin dashboard for the api_models routing catalogue."""

APP_NAME = "api-models-dashboard"
