"""Streamlit entry point: ``streamlit run app.py``. Navigation, the shared sidebar and a guard around every page."""
import logging

import streamlit as st

import ui

st.set_page_config(page_title="Fine-tuning geometry", page_icon=":material/scatter_plot:", layout="wide")

PAGES = {
    "Explore": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:"),
        st.Page("pages/linearity.py", title="Linearity", icon=":material/stacked_line_chart:"),
        st.Page("pages/distances.py", title="Distances", icon=":material/straighten:"),
        st.Page("pages/centroids.py", title="Centroid paths", icon=":material/timeline:"),
        st.Page("pages/layers.py", title="Layers", icon=":material/layers:"),
        st.Page("pages/probes.py", title="Probes", icon=":material/target:"),
    ],
    "Compare": [
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        st.Page("pages/cross_task.py", title="Cross-task", icon=":material/grid_on:"),
        st.Page("pages/stability.py", title="Stability", icon=":material/ssid_chart:"),
    ],
    "Work": [
        st.Page("pages/runs.py", title="Runs", icon=":material/play_circle:"),
        st.Page("pages/report.py", title="Report", icon=":material/description:"),
    ],
}

page = st.navigation(PAGES, position="top")
log = logging.getLogger("dashboard")
ui.chrome_controls()
try:  # the sidebar reads the store too; a store or record it cannot read leaves the pages working
    ui.refresh_listings()
    st.session_state["_selection"], st.session_state["_sidebar_failed"] = ui.sidebar_selection(), False
except Exception as exc:
    log.exception("sidebar failed")
    st.session_state["_selection"], st.session_state["_sidebar_failed"] = None, True
    st.sidebar.error("**The study pickers could not be drawn.** " + ui.visible(f"{type(exc).__name__}: {exc}"),
                     icon=":material/error:")
try:
    page.run()
except Exception as exc:  # a page never shows a traceback: one clear message instead
    log.exception("page %s failed", page.title)
    st.error("**This view could not be drawn.** " + ui.visible(f"{type(exc).__name__}: {exc}"), icon=":material/error:")
