"""Writes runnel's Grafana dashboards (broker overview, topics, consumer groups) as JSON.

Every panel queries the Prometheus data source chosen in the ${datasource} variable, so the
dashboards import into any Grafana. Run after editing: python3 monitoring/grafana/generate.py
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"


def datasource_variable():
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0}


def label_variable(name, label, metric):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": f"label_values({metric}, {label})", "refId": f"{name}-values"},
            "definition": f"label_values({metric}, {label})", "refresh": 2, "includeAll": True,
            "multi": True, "allValue": ".*", "current": {"text": "All", "value": "$__all"}, "hide": 0}


def panel(pid, title, unit, targets, x, y, w=12, h=8):
    return {
        "id": pid, "type": "timeseries", "title": title, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [{"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(65 + i)}
                    for i, (expr, legend) in enumerate(targets)],
    }


def dashboard(uid, title, panels, variables):
    laid_out = [panel(i + 1, t, u, q, (i % 2) * 12, (i // 2) * 8) for i, (t, u, q) in enumerate(panels)]
    return {
        "uid": uid, "title": title, "tags": ["runnel", "kafka"], "timezone": "browser",
        "schemaVersion": 39, "version": 1, "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [datasource_variable()] + variables}, "panels": laid_out,
    }


OVERVIEW = dashboard("runnel-overview", "runnel: broker overview", [
    ("Records in per second", "short", [
        (f'sum(rate(kafka_server_brokertopicmetrics_messagesin_total{{topic!=""}}[{RATE}]))', "records/s")]),
    ("Bytes in and out per second", "Bps", [
        (f'sum(rate(kafka_server_brokertopicmetrics_bytesin_total{{topic!=""}}[{RATE}]))', "in"),
        (f'sum(rate(kafka_server_brokertopicmetrics_bytesout_total{{topic!=""}}[{RATE}]))', "out")]),
    ("Requests per second by API", "reqps", [
        (f"sum by (api) (rate(runnel_requests_total[{RATE}]))", "{{api}}")]),
    ("Request latency p99 by API", "s", [
        (f"histogram_quantile(0.99, sum by (api, le) (rate(runnel_request_duration_seconds_bucket[{RATE}])))",
         "{{api}}")]),
    ("fsync latency p50 and p99", "s", [
        (f"histogram_quantile(0.5, sum by (le) (rate(runnel_fsync_duration_seconds_bucket[{RATE}])))", "p50"),
        (f"histogram_quantile(0.99, sum by (le) (rate(runnel_fsync_duration_seconds_bucket[{RATE}])))", "p99")]),
    ("Records per fsync (group commit)", "short", [
        (f"sum(rate(runnel_group_commit_records_sum[{RATE}])) / sum(rate(runnel_group_commit_records_count[{RATE}]))",
         "records per fsync")]),
    ("Refused produce and fetch partitions per second", "short", [
        (f'sum(rate(kafka_server_brokertopicmetrics_failedproducerequests_total{{topic=""}}[{RATE}]))', "produce"),
        (f'sum(rate(kafka_server_brokertopicmetrics_failedfetchrequests_total{{topic=""}}[{RATE}]))', "fetch")]),
    ("Connections", "short", [("sum(runnel_connections)", "open")]),
    ("Free disk", "percentunit", [("runnel_log_dir_free_bytes / runnel_log_dir_size_bytes", "{{instance}}")]),
    ("Offline partitions", "short", [("sum(kafka_server_replicamanager_offlinereplicacount)", "offline")]),
    ("CPU", "percentunit", [(f"rate(process_cpu_seconds_total{{job=\"runnel\"}}[{RATE}])", "{{instance}}")]),
    ("Memory and open files", "bytes", [
        ('process_resident_memory_bytes{job="runnel"}', "resident {{instance}}"),
        ('process_open_fds{job="runnel"}', "open files {{instance}}")]),
], [])

TOPICS = dashboard("runnel-topics", "runnel: topics", [
    ("Records in per second by topic", "short", [
        (f'sum by (topic) (rate(kafka_server_brokertopicmetrics_messagesin_total{{topic=~"$topic"}}[{RATE}]))',
         "{{topic}}")]),
    ("Bytes in per second by topic", "Bps", [
        (f'sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesin_total{{topic=~"$topic"}}[{RATE}]))',
         "{{topic}}")]),
    ("Bytes out per second by topic", "Bps", [
        (f'sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesout_total{{topic=~"$topic"}}[{RATE}]))',
         "{{topic}}")]),
    ("Size on disk by topic", "bytes", [('sum by (topic) (kafka_log_log_size{topic=~"$topic"})', "{{topic}}")]),
    ("Partitions", "short", [('kafka_topic_partitions{topic=~"$topic"}', "{{topic}}")]),
    ("Log end offset by partition", "short", [
        ('kafka_topic_partition_current_offset{topic=~"$topic"}', "{{topic}}-{{partition}}")]),
    ("Records kept by partition", "short", [
        ('kafka_topic_partition_current_offset{topic=~"$topic"} - kafka_topic_partition_oldest_offset{topic=~"$topic"}',
         "{{topic}}-{{partition}}")]),
], [label_variable("topic", "topic", "kafka_topic_partitions")])

GROUPS = dashboard("runnel-consumer-groups", "runnel: consumer groups", [
    ("Lag in records by group and topic", "short", [
        ('sum by (consumergroup, topic) (kafka_consumergroup_lag{consumergroup=~"$group"})',
         "{{consumergroup}} / {{topic}}")]),
    ("Lag in seconds by group and topic (oldest record not committed)", "s", [
        ('max by (group, topic) (kafka_consumergroup_group_lag_seconds{group=~"$group"})', "{{group}} / {{topic}}")]),
    ("Lag in records by partition", "short", [
        ('kafka_consumergroup_lag{consumergroup=~"$group"}', "{{consumergroup}} / {{topic}}-{{partition}}")]),
    ("Records committed per second", "short", [
        (f'sum by (consumergroup, topic) (deriv(kafka_consumergroup_current_offset{{consumergroup=~"$group"}}[{RATE}]))',
         "{{consumergroup}} / {{topic}}")]),
    ("Members", "short", [('kafka_consumergroup_members{consumergroup=~"$group"}', "{{consumergroup}}")]),
    ("Committed offset by partition", "short", [
        ('kafka_consumergroup_current_offset{consumergroup=~"$group"}', "{{consumergroup}} / {{topic}}-{{partition}}")]),
], [label_variable("group", "consumergroup", "kafka_consumergroup_members")])

for name, board in [("overview", OVERVIEW), ("topics", TOPICS), ("consumer-groups", GROUPS)]:
    (HERE / f"{name}.json").write_text(json.dumps(board, indent=2) + "\n")
