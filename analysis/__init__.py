"""Backend for exploring how fine-tuning changes the representation geometry of BERT-family encoders.

Never imports Streamlit: every figure of the dashboard comes from a function here that a test
or the CLI (``python -m analysis``) can call.
"""
__version__ = "0.2.0"
