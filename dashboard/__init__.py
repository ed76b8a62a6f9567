"""CX Console user interfaces: the Streamlit app and the `cx` command line."""
