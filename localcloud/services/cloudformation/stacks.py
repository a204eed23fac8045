"""CloudFormation on the local cloud behaves as it does on AWS for the SageMaker resources.

moto's CloudFormation is synchronous (CreateStack returns when every resource exists), so:
- the SageMaker resources are made through the SageMaker API (`sagemaker_resources`); an
  `AWS::SageMaker::Endpoint` created or updated by a stack is waited for, as CloudFormation
  waits for InService on AWS; a model that fails to start fails the stack (the resource's
  CREATE_FAILED event with the reason, `events`; stack ROLLBACK_COMPLETE with AWS's "The
  following resource(s) failed to create: [...]"; UPDATE_ROLLBACK_COMPLETE on update, the old
  model still serving);
- `ModelName` / `EndpointConfigName` / `EndpointName` properties name the resources (moto would
  invent `{stack}-{logical}-{random}` names);
- an update re-creates the dependents of a replaced resource (a new Model means a new
  EndpointConfig) and re-points the Endpoint in place through UpdateEndpoint (blue/green, with
  the resource's DeploymentConfig: an update its alarms roll back fails the stack update),
  instead of deleting and re-creating it;
- a failed update rolls the stack back to what it was: its template, parameters, outputs and
  resource map are the old ones again, resources the update added are deleted
  (UPDATE_ROLLBACK_COMPLETE);
- change sets go through the same create / update paths (`change_sets`);
- a stack delete that a resource refuses (S3: a bucket that still holds objects) ends
  DELETE_FAILED with the reason, the resources that could go gone, the rest kept.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moto.cloudformation import parsing
from moto.cloudformation.models import CloudFormationBackend
from moto.cloudformation.models import Stack as FakeStack
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, Model

from localcloud.services.cloudformation import events, sagemaker_resources
from localcloud.services.cloudformation.sagemaker_resources import replaced

if TYPE_CHECKING:
    from localcloud.dataplane.endpoints import Endpoints

_SAGEMAKER_TYPES = {
    "AWS::SageMaker::Model",
    "AWS::SageMaker::EndpointConfig",
    "AWS::SageMaker::Endpoint",
}


class _NoOutputs(dict):
    """The outputs of a rolled-back stack: none (module level, so snapshots can pickle it)."""

    exports: list[Any] = []


def install(endpoints: Endpoints) -> None:
    """CloudFormation's SageMaker resources named by their properties, endpoints waited for in
    `endpoints`, updates in place, rollbacks and change sets as on AWS (see the docstring)."""
    Model.cloudformation_name_type = staticmethod(lambda: "ModelName")  # type: ignore[method-assign]
    FakeEndpointConfig.cloudformation_name_type = staticmethod(  # type: ignore[method-assign]
        lambda: "EndpointConfigName"
    )
    FakeEndpoint.cloudformation_name_type = staticmethod(lambda: "EndpointName")  # type: ignore[method-assign]
    parsing.get_name_type_map.cache_clear()
    sagemaker_resources.install(endpoints)
    for resource in (Model, FakeEndpointConfig):
        resource.update_from_cloudformation_json = classmethod(_replace_after_update)  # type: ignore[method-assign,assignment]
    _wrap_resource_diff()
    _wrap_update()
    _wrap_stack()
    _wrap_delete()


@dataclass(frozen=True)
class _Replacement:
    """A Model or EndpointConfig replaced by the running stack update."""

    original: Any
    new: Any
    delete_original: Callable[[], None]
    delete_new: Callable[[], None]


def _arn(resource: Any) -> str:
    """The physical id moto's SageMaker resources delete by (a Model's or a config's ARN)."""
    return getattr(resource, "endpoint_config_arn", None) or resource.arn


def _replace_after_update(
    cls: type[Any],
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Any:
    """Model / EndpointConfig replacement: the new one now, the old one deleted only when the
    whole update succeeded (moto deletes it first, which loses it when the update fails)."""
    pending: list[_Replacement] | None = getattr(replaced, "pending", None)
    old_id = _arn(original_resource)

    def delete(physical_id: str) -> Callable[[], None]:
        return lambda: cls.delete_from_cloudformation_json(
            physical_id, cloudformation_json, account_id, region_name
        )

    if pending is None or new_resource_name.split("/")[-1] == old_id.split("/")[-1]:
        delete(old_id)()  # same name, or not inside a stack update: moto's own order
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )
    new = cls.create_from_cloudformation_json(
        new_resource_name, cloudformation_json, account_id, region_name
    )
    pending.append(_Replacement(original_resource, new, delete(old_id), delete(_arn(new))))
    return new


def _references(node: Any, found: set[str]) -> set[str]:
    """Logical ids a template fragment refers to (Ref, Fn::GetAtt, Fn::Sub, DependsOn)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                template = value[0] if isinstance(value, list) else value
                if isinstance(template, str):
                    found.update(
                        part.split("}")[0].split(".")[0] for part in template.split("${")[1:]
                    )
                _references(value, found)
            elif key == "DependsOn":
                found.update([value] if isinstance(value, str) else value)
            else:
                _references(value, found)
    elif isinstance(node, list):
        for item in node:
            _references(item, found)
    return found


def _wrap_resource_diff() -> None:
    original = parsing.ResourceMap.build_resource_diff

    @functools.wraps(original)
    def build_resource_diff(self: Any, other_template: dict[str, Any], *args: Any, **kw: Any):
        diff = original(self, other_template, *args, **kw)
        old, new = self._resource_json_map, other_template["Resources"]
        refs = {name: _references(body, set()) for name, body in new.items()}
        modified = set(diff["Modify"])
        changed = True
        while changed:  # a SageMaker resource that refers to a modified one is modified too
            changed = False
            for name, body in new.items():
                if name in modified or name not in old or body.get("Type") not in _SAGEMAKER_TYPES:
                    continue
                if refs[name] & modified:
                    modified.add(name)
                    changed = True
        # Dependencies first, so a dependent resolves the new name of what it refers to.
        ordered: list[str] = []

        def visit(name: str, seen: set[str]) -> None:
            if name in ordered or name in seen:
                return
            seen.add(name)
            for dep in sorted(refs.get(name, set()) & modified):
                visit(dep, seen)
            ordered.append(name)

        for name in sorted(modified):
            visit(name, set())
        diff["Modify"] = ordered
        return diff

    parsing.ResourceMap.build_resource_diff = build_resource_diff  # type: ignore[method-assign]


def _wrap_update() -> None:
    original = parsing.ResourceMap.update

    @functools.wraps(original)
    def update(self: Any, template: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        # moto keeps a removed resource in `_parsed_resources`, so a resource added back by a
        # later update (autoscaling when serverless turns provisioned again) would be the
        # deleted object, never created. A resource new to the template is created afresh.
        for name in set(template.get("Resources", {})) - set(self._resource_json_map):
            self._parsed_resources.pop(name, None)
        original(self, template, *args, **kwargs)

    parsing.ResourceMap.update = update  # type: ignore[method-assign]


def _failure(stack: FakeStack, phase: str, err: BaseException) -> str:
    """The stack's reason for a failed create or update, as AWS words it: the resources whose
    events say they failed since the stack's last `{phase}_IN_PROGRESS` (an update creates
    resources too), else the error."""
    failed: dict[str, list[str]] = {"create": [], "update": []}
    for event in reversed(stack.events):
        if event.resource_type == "AWS::CloudFormation::Stack":
            if event.resource_status == f"{phase}_IN_PROGRESS":
                break
            continue
        verb = event.resource_status.removesuffix("_FAILED").lower()
        names = failed.get(verb) if event.resource_status.endswith("_FAILED") else None
        if names is not None and event.logical_resource_id not in names:
            names.insert(0, event.logical_resource_id)
    reasons = [
        f"The following resource(s) failed to {verb}: [{', '.join(names)}]."
        for verb, names in failed.items()
        if names
    ]
    return " ".join(reasons) or events.reason_of(err)


def _wrap_stack() -> None:
    create_resources = FakeStack.create_resources
    update = FakeStack.update

    @functools.wraps(create_resources)
    def create_resources_hook(self: FakeStack) -> None:
        try:
            create_resources(self)
        except Exception as err:
            reason = _failure(self, "CREATE", err) + " Rollback requested by user."
            self.stack_status_reason = reason
            self.status = "ROLLBACK_IN_PROGRESS"
            self._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
            # What cannot be rolled back stays, as DELETE_SKIPPED would leave it.
            with contextlib.suppress(Exception):
                self.resource_map.delete()
            # moto's maps are lazy: reading outputs or resources would create them again.
            self.resource_map._resource_json_map = {}
            self.output_map = _NoOutputs()
            self.status = "ROLLBACK_COMPLETE"
            self._add_stack_event("ROLLBACK_COMPLETE")

    @functools.wraps(update)
    def update_hook(self: FakeStack, *args: Any, **kwargs: Any) -> None:
        replaced.pending = pending = []
        replaced.failed = {}
        before = _Before.of(self)
        try:
            update(self, *args, **kwargs)
        except Exception as err:
            reason = _failure(self, "UPDATE", err)
            self.stack_status_reason = reason
            self.status = "UPDATE_ROLLBACK_IN_PROGRESS"
            self._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
            before.restore(self)
            self.status = "UPDATE_ROLLBACK_COMPLETE"
            self._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
            # The stack goes back to the resources it had, so the next update replaces (and
            # later deletes) those, and nothing is left behind by `cdk destroy`.
            parsed = self.resource_map._parsed_resources
            back = {id(r.new): r.original for r in pending}
            for logical, resource in list(parsed.items()):
                if id(resource) in back:
                    parsed[logical] = back[id(resource)]
            cleanup = [r.delete_new for r in pending]
        else:
            cleanup = [r.delete_original for r in pending]
        finally:
            replaced.pending = None
            replaced.failed = None
        for delete in reversed(cleanup):  # configs before the models they refer to
            with contextlib.suppress(Exception):  # already gone: nothing to clean up
                delete()

    FakeStack.create_resources = create_resources_hook  # type: ignore[method-assign]
    FakeStack.update = update_hook  # type: ignore[method-assign]


@dataclass
class _Before:
    """What a stack update changes besides its resources, kept to roll a failed one back."""

    stack: dict[str, Any]
    resource_map: dict[str, Any]
    parameters: dict[str, Any]

    _STACK = ("template", "template_dict", "description", "parameters", "role_arn", "tags")
    _MAP = (
        "_template",
        "_resource_json_map",
        "input_parameters",
        "no_echo_parameter_keys",
        "lazy_condition_map",
    )

    @classmethod
    def of(cls, stack: FakeStack) -> _Before:
        resource_map = stack.resource_map
        return cls(
            stack={k: getattr(stack, k, None) for k in (*cls._STACK, "output_map")},
            resource_map={k: getattr(resource_map, k, None) for k in cls._MAP},
            parameters=dict(resource_map.resolved_parameters),
        )

    def restore(self, stack: FakeStack) -> None:
        """The stack as it was before the update: GetTemplate, parameters and outputs are
        the old ones; resources only the new template had are deleted, as a rollback does."""
        resource_map = stack.resource_map
        new_resources = dict(resource_map._resource_json_map)
        old_resources = self.resource_map["_resource_json_map"] or {}
        for name in set(new_resources) - set(old_resources):
            resource = resource_map._parsed_resources.pop(name, None)
            if resource is not None and not isinstance(resource, str):
                with contextlib.suppress(Exception):  # what cannot go stays, as on AWS
                    resource_map._delete_resource(resource, new_resources[name])
        for key, value in self.stack.items():
            setattr(stack, key, value)
        for key, value in self.resource_map.items():
            setattr(resource_map, key, value)
        resource_map.resolved_parameters = dict(self.parameters)
        resource_map._parsed_resources.update(self.parameters)


class _DeleteFailed(Exception):
    """A stack delete that a resource refused; the stack stays, DELETE_FAILED."""


def _wrap_delete() -> None:
    delete_stack = CloudFormationBackend.delete_stack

    def stack_delete(self: FakeStack) -> None:
        self._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
        try:
            self.resource_map.delete()
        except Exception as err:
            reason = events.reason_of(err)
            kept = [
                name
                for name, body in self.resource_map._resource_json_map.items()
                if name in self.resource_map._parsed_resources
                and body.get("DeletionPolicy") != "Retain"
            ]
            for name in kept:
                resource = self.resource_map._parsed_resources[name]
                resource_type = self.resource_map._resource_json_map[name]["Type"]
                physical = getattr(resource, "physical_resource_id", name)
                events.add(self, name, resource_type, "DELETE_FAILED", reason, physical)
            self.status = "DELETE_FAILED"
            self.stack_status_reason = (
                f"The following resource(s) failed to delete: [{', '.join(kept)}]. {reason}"
            )
            self._add_stack_event("DELETE_FAILED", resource_status_reason=self.stack_status_reason)
            raise _DeleteFailed(reason) from err
        self._add_stack_event("DELETE_COMPLETE")
        self.status = "DELETE_COMPLETE"

    @functools.wraps(delete_stack)
    def delete(self: CloudFormationBackend, name_or_stack_id: str) -> None:
        stacks = [s for s in self.stacks.values() if name_or_stack_id in (s.name, s.stack_id)]
        try:
            delete_stack(self, name_or_stack_id)
        except _DeleteFailed:
            # DeleteStack itself succeeds on AWS; the stack stays, DELETE_FAILED, and a later
            # delete retries what is left.
            for stack in stacks:
                self.stacks[stack.stack_id] = stack

    FakeStack.delete = stack_delete  # type: ignore[method-assign]
    CloudFormationBackend.delete_stack = delete  # type: ignore[method-assign]
