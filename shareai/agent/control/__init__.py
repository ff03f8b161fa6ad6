"""The agent's side of the control plane.

    identity.py      the node identity (id, secret) in the data dir, mode 0600
    channel.py       the gRPC channel to the coordinator and the per-call credentials
    enroll.py        `shareai-agent enroll`: token -> identity
    backoff.py       pure timing: jittered intervals, exponential backoff
    session.py       register, heartbeat loop, re-register, deregister
    availability.py  always-on / idle policy (injected utilisation source and clock), time window
    control_config.py  the `[control]` config table and its flags
    node.py          `NodeAgent`: serving + session + availability, wired together
    commands.py      the `enroll` and `run` CLI verbs
"""
