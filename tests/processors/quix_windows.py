"""A Quix Streams application run against runnel by the tests: counts events per key in
10-second tumbling windows and writes each window's final count.

Usage: python quix_windows.py   (settings from the environment: BROKER, GROUP, INPUT, OUTPUT,
GUARANTEE = at-least-once | exactly-once, STATE_DIR)
"""

import os

from quixstreams import Application

app = Application(
    broker_address=os.environ["BROKER"],
    consumer_group=os.environ["GROUP"],
    auto_offset_reset="earliest",
    processing_guarantee=os.environ.get("GUARANTEE", "at-least-once"),
    state_dir=os.environ["STATE_DIR"],
    commit_interval=0.5,
)
events = app.topic(os.environ["INPUT"], key_deserializer="string", value_deserializer="json")
output = app.topic(os.environ["OUTPUT"], key_serializer="string", value_serializer="json")

sdf = app.dataframe(events)
sdf = sdf.tumbling_window(duration_ms=10_000).count().final()
sdf.to_topic(output)

if __name__ == "__main__":
    app.run()
