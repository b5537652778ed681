"""Who computes next: the scheduler's slots and queue, and the cost each request is priced at before it runs."""


from server.scheduling.scheduler import Busy, Scheduler

__all__ = [
    "Busy", "Scheduler",
]
