"""One flow per directive kind. Each opens one assignment: its brief goes to the Prefect UI.

The flows differ in what they expect the agency to deliver (``models.definition.kinds``);
``generic`` serves any other assignment, so a new directive needs only YAML.
"""

from __future__ import annotations

from prefect import Flow, flow

from flows.runtime import directive_tags, label_current_run
from models.definition.kinds import KINDS
from tasks.artifacts import publish_brief
from tasks.directives import brief_assignment


def _kind_flow(kind: str) -> Flow:
    spec = KINDS[kind]

    def open_assignment(assignment_id: int) -> dict:
        brief = brief_assignment(assignment_id)
        label_current_run(directive_tags(brief["slug"], [*brief["leads"], *brief["supporting"]]))
        publish_brief(brief)
        return brief

    open_assignment.__name__ = kind
    open_assignment.__qualname__ = kind
    return flow(name=kind.replace("_", "-"), description=f"{spec.title}: {spec.deliverable}.", log_prints=True)(
        open_assignment
    )


network_transition = _kind_flow("network_transition")
permit_review = _kind_flow("permit_review")
land_use_conversion = _kind_flow("land_use_conversion")
industrial_park_access = _kind_flow("industrial_park_access")
annual_plan = _kind_flow("annual_plan")
generic = _kind_flow("generic")

KIND_FLOWS: dict[str, Flow] = {
    "network_transition": network_transition,
    "permit_review": permit_review,
    "land_use_conversion": land_use_conversion,
    "industrial_park_access": industrial_park_access,
    "annual_plan": annual_plan,
    "generic": generic,
}
