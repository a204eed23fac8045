"""CloudFormation change sets as on AWS: CreateChangeSet, DescribeChangeSet, ExecuteChangeSet,
DeleteChangeSet and ListChangeSets are scoped to their stack, and a change set is executed through
the same create / update paths as CreateStack / UpdateStack (`stacks`), so the endpoint waits,
names, in-place updates, rollbacks and the stack's Outputs hold for `cdk deploy` with its default
method; executing one removes the stack's change sets, as AWS does."""

from __future__ import annotations

import functools
from typing import Any

from moto.cloudformation.exceptions import CloudFormationError, ValidationError
from moto.cloudformation.models import ChangeSet, CloudFormationBackend
from moto.cloudformation.responses import CloudFormationResponse


def install() -> None:
    """Replace moto's change set actions (it loses Outputs and breaks DeleteChangeSet)."""
    _wrap_change_sets()


class ChangeSetNotFound(CloudFormationError):
    """404 ChangeSetNotFound, as botocore models it for CloudFormation."""

    code = "ChangeSetNotFound"

    def __init__(self, name: str) -> None:
        super().__init__(f"ChangeSet [{name}] does not exist")


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatus"


def _stack_matches(change_set: ChangeSet, stack_name: str | None) -> bool:
    return not stack_name or stack_name in (change_set.stack_name, change_set.stack_id)


def _find_change_set(
    backend: CloudFormationBackend, name: str, stack_name: str | None
) -> ChangeSet:
    """A change set by ARN, or by name within its stack (names are unique per stack on AWS)."""
    if name in backend.change_sets:
        return backend.change_sets[name]
    for change_set in backend.change_sets.values():
        if change_set.change_set_name == name and _stack_matches(change_set, stack_name):
            return change_set
    raise ChangeSetNotFound(name)


def _execute_change_set(
    self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None
) -> None:
    change_set = _find_change_set(self, change_set_name, stack_name)
    if change_set.status != "CREATE_COMPLETE" or change_set.execution_status != "AVAILABLE":
        raise InvalidChangeSetStatus(
            f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current status "
            f"of [{change_set.status}]"
        )
    stack = self.stacks[change_set.stack_id]
    # AWS removes a stack's change sets once one of them runs.
    for key, other in list(self.change_sets.items()):
        if other.stack_id == stack.stack_id:
            del self.change_sets[key]
    if change_set.change_set_type == "CREATE":
        # The stack was created empty for review: give it its template, then create it as
        # CreateStack does (the endpoint waits, rollback on failure, Outputs).
        stack.template = change_set.template
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.parameters = change_set.parameters
        stack.resource_map = stack._create_resource_map()
        stack.output_map = stack._create_output_map()
        self._validate_export_uniqueness(stack)
        stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
        stack.create_resources()
        for export in stack.exports:
            self.exports[export.name] = export
    else:
        stack.update(
            change_set.template,
            change_set.role_arn,
            parameters=change_set.parameters,
            tags=change_set.tags or None,
        )


def _wrap_change_sets() -> None:
    create_change_set = CloudFormationBackend.create_change_set

    @functools.wraps(create_change_set)
    def create(self: CloudFormationBackend, stack_name: str, change_set_name: str, *args, **kw):
        change_set_type = kw.get("change_set_type", "CREATE")
        existing = [s for s in self.stacks.values() if s.name == stack_name]
        if change_set_type == "CREATE" and existing:
            if existing[0].status != "REVIEW_IN_PROGRESS":
                raise ValidationError(
                    stack_name,
                    f"Stack [{stack_name}] already exists and cannot be created again with "
                    "the changeSet",
                )
            # A stack left in review by an earlier CREATE change set takes the new one.
            del self.stacks[existing[0].stack_id]
        for change_set in self.change_sets.values():
            if change_set.change_set_name == change_set_name and change_set.stack_name == (
                stack_name
            ):
                from moto.cloudformation.exceptions import AlreadyExistsException

                raise AlreadyExistsException(f"ChangeSet {change_set_name} already exists")
        return create_change_set(self, stack_name, change_set_name, *args, **kw)

    def delete(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None):
        try:
            change_set = _find_change_set(self, change_set_name, stack_name)
        except ChangeSetNotFound:
            # By name within an existing stack, AWS succeeds whether or not the change set
            # exists (the CDK deletes its change set so before creating it again).
            if stack_name and not change_set_name.startswith("arn:"):
                self.get_stack(stack_name)
                return
            raise
        del self.change_sets[change_set.change_set_id]

    def describe(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None):
        return _find_change_set(self, change_set_name, stack_name)

    CloudFormationBackend.create_change_set = create  # type: ignore[method-assign]
    CloudFormationBackend.delete_change_set = delete  # type: ignore[method-assign,assignment]
    CloudFormationBackend.describe_change_set = describe  # type: ignore[method-assign,assignment]
    CloudFormationBackend.execute_change_set = _execute_change_set  # type: ignore[method-assign]

    # moto's handlers drop StackName; a change set name is only unique within its stack.
    from moto.core.responses import ActionResult, EmptyResult

    def delete_response(self: CloudFormationResponse) -> Any:
        self.cloudformation_backend.delete_change_set(
            self._get_param("ChangeSetName"), self._get_param("StackName")
        )
        return EmptyResult()

    def describe_response(self: CloudFormationResponse) -> Any:
        return ActionResult(
            self.cloudformation_backend.describe_change_set(
                self._get_param("ChangeSetName"), self._get_param("StackName")
            )
        )

    def list_response(self: CloudFormationResponse) -> Any:
        stack_name = self._get_param("StackName")
        summaries = [
            c
            for c in self.cloudformation_backend.change_sets.values()
            if _stack_matches(c, stack_name)
        ]
        return ActionResult({"Summaries": summaries})

    CloudFormationResponse.delete_change_set = delete_response  # type: ignore[method-assign]
    CloudFormationResponse.describe_change_set = describe_response  # type: ignore[method-assign]
    CloudFormationResponse.list_change_sets = list_response  # type: ignore[method-assign]
