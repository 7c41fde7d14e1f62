"""Map rendering: folium pages and report figures from what coverage/ computed."""
