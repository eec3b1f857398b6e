"""Home Assistant over MQTT."""
