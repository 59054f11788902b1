"""Structured output and a thinking budget, as per-request logits processors (llguidance grammars).

A :class:`Constraint` is part of a :class:`~playground.prepare.ChatRequest`; :func:`plan_steering` checks and
compiles it while the request is prepared (a :class:`SteeringPlan` on the prepared chat), and the scheduler
builds one :class:`SteeringProcessor` per reply from that plan, beside the penalties. See ``processor`` for
how it steers and what the token view learns from it.
"""

from .plan import SteeringPlan, plan_steering
from .processor import SteeringProcessor, StepNote
from .spec import CONSTRAINT_KINDS, Constraint

__all__ = ["CONSTRAINT_KINDS", "Constraint", "SteeringPlan", "SteeringProcessor", "StepNote", "plan_steering"]
