"""Where the pages are, relative to the entrypoint (dashboard/ui/app.py): one place for every link.

The entrypoint deliberately does not sit beside pages/: a pages/ folder next to the main script puts
Streamlit in its legacy multipage mode, in which every file there is reachable by URL and runs
without the entrypoint (so without the sign-in gate) until some session calls st.navigation.
"""

_DIR = "../../pages"
OVERVIEW = f"{_DIR}/overview.py"
MODELS = f"{_DIR}/models.py"
EDITOR = f"{_DIR}/model_editor.py"
DEFAULTS = f"{_DIR}/defaults.py"
PROVIDERS = f"{_DIR}/providers.py"
USAGE = f"{_DIR}/usage.py"
HEALTH = f"{_DIR}/health.py"
ROUTING = f"{_DIR}/routing.py"
TRANSFER = f"{_DIR}/transfer.py"
HISTORY = f"{_DIR}/history.py"
SESSIONS = f"{_DIR}/sessions.py"
