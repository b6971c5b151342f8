"""Report: the figures added from other pages, with captions, assembled into one self-contained HTML file."""
import json

import streamlit as st

import ui
from analysis.report import ReportItem, build_report

ui.ensure_app()

st.title("Report", anchor=False)
items = st.session_state.setdefault(ui.REPORT, [])
if not items:
    st.info("No figures yet. Use **Add to report** under any figure; they collect here with their captions.",
            icon=":material/note_add:")
    st.stop()

title = st.text_input("Report title", "Fine-tuning geometry", key="report-title")
for i, item in enumerate(items):
    with st.container(border=True):
        left, right = st.columns([5, 1])
        item["title"] = left.text_input("Title", item["title"], key=f"title-{item['id']}")
        item["caption"] = left.text_area("Caption", item["caption"], key=f"caption-{item['id']}", height=80)
        if right.button("Remove", key=f"remove-{item['id']}", icon=":material/delete:"):
            items.pop(i)
            st.rerun()
        if i and right.button("Move up", key=f"up-{item['id']}", icon=":material/arrow_upward:"):
            items[i - 1], items[i] = items[i], items[i - 1]
            st.rerun()


def html() -> str:
    return build_report([ReportItem(it["title"], it["caption"], json.loads(it["figure"])) for it in items], title)


st.download_button("Download report (HTML, opens offline)", data=html, file_name="report.html", mime="text/html",
                   type="primary", icon=":material/download:", on_click="ignore")
