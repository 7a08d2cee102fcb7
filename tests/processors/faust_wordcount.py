"""A Faust (faust-streaming) application run against runnel by the tests: lines are split into
words, re-keyed by word through a topic, and counted in a changelog-backed table and in a
tumbling-windowed table.

Usage: python faust_wordcount.py worker   (settings from the environment: BROKER, APP_ID)
"""

import os
from datetime import timedelta

import faust

app = faust.App(
    os.environ.get("APP_ID", "faust-wordcount"),
    broker=f"kafka://{os.environ['BROKER']}",
    store="memory://",  # tables live in memory and are rebuilt from their changelogs at start
    topic_partitions=4,
    topic_replication_factor=1,
    web_enabled=False,
)

lines = app.topic("faust-lines", value_type=str, value_serializer="raw", partitions=4)
words = app.topic("faust-words", key_type=str, value_type=str, partitions=4)
counts = app.Table("word_counts", default=int, partitions=4)
windowed = app.Table("word_counts_windowed", default=int, partitions=4).tumbling(
    timedelta(seconds=10), expires=timedelta(hours=1)
)


@app.agent(lines)
async def split(stream):
    async for line in stream:
        text = line.decode() if isinstance(line, bytes) else line
        for word in text.split():
            await words.send(key=word, value=word)


@app.agent(words)
async def count(stream):
    async for word in stream:
        counts[word] += 1
        windowed[word] += 1


if __name__ == "__main__":
    app.main()
