"""Figure builders: data in, Plotly figure out; tested without Streamlit."""
