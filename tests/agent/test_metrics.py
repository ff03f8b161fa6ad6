from __future__ import annotations

from shareai.agent.metrics import AgentMetrics, Histogram
from shareai.agent.slots import ModelLoad


def test_histogram_is_cumulative() -> None:
    h = Histogram([0.1, 1.0])
    for v in (0.05, 0.1, 0.5, 7.0):
        h.observe(v)
    lines = list(h.lines("x", (("model", "m"),)))
    assert lines == [
        'x_bucket{model="m",le="0.1"} 2',
        'x_bucket{model="m",le="1"} 3',
        'x_bucket{model="m",le="+Inf"} 4',
        'x_sum{model="m"} 7.65',
        'x_count{model="m"} 4',
    ]


def test_render_escapes_labels_and_reads_gauges_from_loads() -> None:
    m = AgentMetrics()
    m.request('we"ird\\name', "completions", 429)
    text = m.render([ModelLoad("a", slots=2, busy=1, free=1, queue_depth=3, queue_limit=8, n_ctx=512)])
    assert 'shareai_agent_requests_total{model="we\\"ird\\\\name",endpoint="completions",status="429"} 1' in text
    assert 'shareai_agent_queue_depth{model="a"} 3' in text
    assert 'shareai_agent_slots_busy{model="a"} 1' in text
    assert "# TYPE shareai_agent_time_to_first_token_seconds histogram" in text
