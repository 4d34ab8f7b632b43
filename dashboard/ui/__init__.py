"""Streamlit-side helpers shared by the pages: context, session, feedback, cached reads, widgets."""
