"""Model runtimes behind one interface (`base.Backend`): llama.cpp, and a light fake for tests."""

from shareai.agent.backends.base import Backend, Delta, Event, Finish, GenParams, Usage

__all__ = ["Backend", "Delta", "Event", "Finish", "GenParams", "Usage"]
