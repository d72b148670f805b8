"""`lithair mqtt-bridge`: MQTT publishes in, committed batches out, PUBACK only after commit.

payloads.py decodes a message into readings, batches.py groups messages and names each
batch, committer.py writes a batch and decides each message's fate, link.py owns the paho
client, alerts.py publishes new anomalies, bridge.py runs them together.
"""
