"""Streamlit UI. Thin: pages read widgets, call one service method and render the dataclass back."""
