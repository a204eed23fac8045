"""An operation as IAM names it: each IAM action it needs and the resource ARN it is
authorised on, in the formats of the Service Authorization Reference (resource types, ARN
formats), from the operation's fields (`authorize.requested` reads them off the request; S3's
requests are named in `arns_s3`). An operation that AWS authorises on `*` (no resource-level
permissions: `ssm:DescribeParameters`, `ecr:GetAuthorizationToken`, `kms:CreateKey`,
`logs:DescribeLogGroups`, List* and the like) is named `*`, and so is one this cloud does not
name: see docs/localcloud.md "IAM for assumed roles" for those.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from localcloud.shared.arns import sagemaker_arn

Check = tuple[str, str]  # (IAM action, resource ARN)


def _name(params: dict[str, Any], *fields: str) -> str | None:
    for field in fields:
        value = params.get(field)
        if isinstance(value, str) and value:
            return value
    return None


def _list(params: dict[str, Any], field: str) -> list[str]:
    value = params.get(field)
    return [str(v) for v in value] if isinstance(value, list) else []


# --- Systems Manager ---------------------------------------------------------------------------
def _ssm_parameter(name: str, account: str, region: str) -> str:
    """`parameter/NAME`; a hierarchical name keeps its leading slash as the separator
    (`/cdk-bootstrap/x/version` -> `parameter/cdk-bootstrap/x/version`). A version or label
    selector (`NAME:3`) names the same parameter."""
    if name.startswith("arn:"):
        head, _, rest = name.partition(":parameter/")
        return f"{head}:parameter/{rest.split(':', 1)[0]}"
    name = name.split(":", 1)[0]
    return f"arn:aws:ssm:{region}:{account}:parameter{'' if name.startswith('/') else '/'}{name}"


def _ssm(operation: str, params: dict[str, Any], account: str, region: str) -> list[str]:
    names = _list(params, "Names") or [n for n in [_name(params, "Name", "Path")] if n]
    if operation in ("AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource"):
        if params.get("ResourceType") == "Parameter" and params.get("ResourceId"):
            names = [str(params["ResourceId"])]
        else:
            names = []
    return [_ssm_parameter(n, account, region) for n in names]


# --- CloudWatch Logs ---------------------------------------------------------------------------
_LOG_STREAM_OPS = {"CreateLogStream", "DeleteLogStream", "GetLogEvents", "PutLogEvents"}


def _log_group(name: str, account: str, region: str) -> str:
    if name.startswith("arn:"):
        return name.removesuffix(":*")
    return f"arn:aws:logs:{region}:{account}:log-group:{name}"


def _logs(operation: str, params: dict[str, Any], account: str, region: str) -> list[str]:
    """A log stream's actions on `log-group:G:log-stream:S`, a log group's on `log-group:G`."""
    if operation == "DescribeLogGroups":
        return []  # AWS authorises the listing on `*`, whatever it filters on
    if params.get("resourceArn"):  # TagResource, UntagResource, ListTagsForResource
        return [str(params["resourceArn"]).removesuffix(":*")]
    group = _name(params, "logGroupName", "logGroupIdentifier")
    if group is None:
        groups = _list(params, "logGroupNames") or _list(params, "logGroupIdentifiers")
        return [_log_group(g, account, region) for g in groups]
    arn = _log_group(group, account, region)
    if operation in _LOG_STREAM_OPS and params.get("logStreamName"):
        return [f"{arn}:log-stream:{params['logStreamName']}"]
    return [arn]


# --- ECR -------------------------------------------------------------------------------------
def _ecr(operation: str, params: dict[str, Any], account: str, region: str) -> list[str]:
    if params.get("resourceArn"):
        return [str(params["resourceArn"])]
    registry = str(params.get("registryId") or account)
    names = _list(params, "repositoryNames") or [n for n in [_name(params, "repositoryName")] if n]
    if not names and operation == "DescribeRepositories":
        names = ["*"]  # every repository of the registry
    return [f"arn:aws:ecr:{region}:{registry}:repository/{n}" for n in names]


# --- KMS -------------------------------------------------------------------------------------
def _kms_key(key: str, account: str, region: str) -> str:
    """The key ARN of a key id, key ARN, alias name or alias ARN (an alias names its key, as
    KMS authorises a request made through an alias on the key)."""
    from moto.kms.models import kms_backends

    if key.startswith("arn:") and ":key/" in key:
        return key
    alias = key if key.startswith("alias/") else None
    if key.startswith("arn:") and ":alias/" in key:
        alias = "alias/" + key.split(":alias/", 1)[1]
    if alias is None:
        return f"arn:aws:kms:{region}:{account}:key/{key}"
    backend = dict.get(dict.get(kms_backends, account) or {}, region)
    for found in list(getattr(backend, "keys", {}).values()):
        if alias in found.aliases:
            return str(found.arn)
    return f"arn:aws:kms:{region}:{account}:{alias}"  # no such alias: KMS answers NotFound


def _kms_alias(name: str, account: str, region: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:kms:{region}:{account}:{name}"


def _kms_blob_key(blob: Any) -> str | None:
    """The key id moto's KMS wrote into a ciphertext blob (Decrypt without KeyId)."""
    from moto.kms.utils import _deserialize_ciphertext_blob

    try:
        return _deserialize_ciphertext_blob(base64.b64decode(str(blob))).key_id
    except Exception:  # not a ciphertext of this cloud: KMS refuses it, named on `*`
        return None


def _kms(operation: str, params: dict[str, Any], account: str, region: str) -> list[Check]:
    action = f"kms:{operation}"
    if operation in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
        alias = str(params.get("AliasName", ""))
        arns = [_kms_alias(alias, account, region)]
        if operation != "CreateAlias":
            arns.append(_kms_key(alias, account, region))  # the key it names now
        if params.get("TargetKeyId"):
            arns.append(_kms_key(str(params["TargetKeyId"]), account, region))
        return [(action, arn) for arn in dict.fromkeys(arns)]
    if operation == "ReEncrypt":
        source = _name(params, "SourceKeyId") or _kms_blob_key(params.get("CiphertextBlob"))
        checks = [("kms:ReEncryptFrom", _kms_key(source, account, region) if source else "*")]
        if params.get("DestinationKeyId"):
            destination = _kms_key(str(params["DestinationKeyId"]), account, region)
            checks.append(("kms:ReEncryptTo", destination))
        return checks
    key = _name(params, "KeyId")
    if key is None and operation == "Decrypt":
        key = _kms_blob_key(params.get("CiphertextBlob"))
    return [(action, _kms_key(key, account, region))] if key else []


# --- IAM and STS ---------------------------------------------------------------------------------
def _iam_arn(kind: str, name: str, account: str, path: str | None = None) -> str:
    """A role's, user's or group's ARN with its path (the live one's, else `path`)."""
    from moto.iam.models import iam_backends

    backend = dict.get(dict.get(iam_backends, account) or {}, "aws")
    if backend is not None:
        found = {"role": backend.roles, "user": backend.users, "group": backend.groups}[kind]
        live = next((e for e in list(found.values()) if e.name == name), None)
        if live is not None:
            return str(live.arn)
    return f"arn:aws:iam::{account}:{kind}{path or '/'}{name}"


def _iam(operation: str, params: dict[str, Any], account: str, region: str) -> list[str]:
    path = _name(params, "Path")
    if operation == "CreatePolicy" and params.get("PolicyName"):
        return [f"arn:aws:iam::{account}:policy{path or '/'}{params['PolicyName']}"]
    if params.get("PolicySourceArn"):  # SimulatePrincipalPolicy
        return [str(params["PolicySourceArn"])]
    if params.get("InstanceProfileName"):
        name = params["InstanceProfileName"]
        return [f"arn:aws:iam::{account}:instance-profile{path or '/'}{name}"]
    for field, kind in (("RoleName", "role"), ("UserName", "user"), ("GroupName", "group")):
        if params.get(field):  # a role's action is on the role, also with a PolicyArn
            return [_iam_arn(kind, str(params[field]), account, path)]
    if params.get("PolicyArn"):
        return [str(params["PolicyArn"])]
    if params.get("OpenIDConnectProviderArn"):
        return [str(params["OpenIDConnectProviderArn"])]
    return []


def _sts(operation: str, params: dict[str, Any], account: str, region: str) -> list[str]:
    return [str(params["RoleArn"])] if params.get("RoleArn") else []


# --- CloudFormation ----------------------------------------------------------------------------
def _cloudformation(operation: str, params: dict[str, Any], account: str, region: str) -> list[str]:
    """Stacks and their change sets: a change set's actions are on its stack."""
    from moto.cloudformation.models import cloudformation_backends

    backend = dict.get(dict.get(cloudformation_backends, account) or {}, region)
    name = _name(params, "StackName")
    change_set = _name(params, "ChangeSetName")
    if name is None and change_set and change_set.startswith("arn:") and backend is not None:
        found = getattr(backend, "change_sets", {}).get(change_set)
        name = getattr(found, "stack_id", None) or getattr(found, "stack_name", None)
    if name is None:
        return []
    if name.startswith("arn:"):
        return [name]
    stacks = list(getattr(backend, "stacks", {}).values()) if backend else []
    for stack in stacks:
        if stack.name == name and stack.status != "DELETE_COMPLETE":
            return [str(stack.stack_id)]
    return [f"arn:aws:cloudformation:{region}:{account}:stack/{name}/*"]


# --- SageMaker ------------------------------------------------------------------------------------
_SAGEMAKER_KINDS = {  # operation's noun -> (name field, ARN resource type)
    "Model": ("ModelName", "model"),
    "EndpointConfig": ("EndpointConfigName", "endpoint-config"),
    "Endpoint": ("EndpointName", "endpoint"),
    "TrainingJob": ("TrainingJobName", "training-job"),
    "TransformJob": ("TransformJobName", "transform-job"),
    "ProcessingJob": ("ProcessingJobName", "processing-job"),
    "HyperParameterTuningJob": ("HyperParameterTuningJobName", "hyper-parameter-tuning-job"),
    "ModelPackageGroup": ("ModelPackageGroupName", "model-package-group"),
    "ModelPackage": ("ModelPackageName", "model-package"),
    "InferenceComponent": ("InferenceComponentName", "inference-component"),
    "CompilationJob": ("CompilationJobName", "compilation-job"),
    "Experiment": ("ExperimentName", "experiment"),
    "Pipeline": ("PipelineName", "pipeline"),
    "NotebookInstance": ("NotebookInstanceName", "notebook-instance"),
    "MonitoringSchedule": ("MonitoringScheduleName", "monitoring-schedule"),
}
_SAGEMAKER_OP = re.compile(
    r"(?:Create|Describe|Delete|Update|Stop|Start|Invoke)(" + "|".join(_SAGEMAKER_KINDS) + r")"
    r"(?:Async|WithResponseStream)?"
)
# Operations that need a second resource besides their own: its field and resource type.
_SAGEMAKER_ALSO = {
    "CreateEndpoint": ("EndpointConfigName", "endpoint-config"),
    "UpdateEndpoint": ("EndpointConfigName", "endpoint-config"),
    "CreateInferenceComponent": ("EndpointName", "endpoint"),
}


def _sagemaker(operation: str, params: dict[str, Any], account: str, region: str) -> list[str]:
    if params.get("ResourceArn"):  # AddTags, DeleteTags, ListTags
        return [str(params["ResourceArn"])]
    match = _SAGEMAKER_OP.fullmatch(operation)
    if not match:
        return []
    field, kind = _SAGEMAKER_KINDS[match.group(1)]
    name = _name(params, field) or _name(params, "ModelPackageArn")
    if kind == "model-package" and not name and params.get("ModelPackageGroupName"):
        name = f"{params['ModelPackageGroupName']}/*"  # a new version of the group
    arns = [sagemaker_arn(kind, account, region, name)] if name else []
    also = _SAGEMAKER_ALSO.get(operation)
    if arns and also and _name(params, also[0]):
        arns.append(sagemaker_arn(also[1], account, region, str(params[also[0]])))
    return arns


# --- CloudWatch --------------------------------------------------------------------------------
def _cloudwatch(operation: str, params: dict[str, Any], account: str, region: str) -> list[str]:
    names = [v for k, v in params.items() if k == "AlarmName" or k.startswith("AlarmNames.")]
    names += _list(params, "AlarmNames")
    return [f"arn:aws:cloudwatch:{region}:{account}:alarm:{n}" for n in names]


_NAMERS: dict[str, Callable[[str, dict[str, Any], str, str], list[str]]] = {
    "ssm": _ssm,
    "logs": _logs,
    "ecr": _ecr,
    "iam": _iam,
    "sts": _sts,
    "cloudformation": _cloudformation,
    "sagemaker": _sagemaker,
    "cloudwatch": _cloudwatch,
}


def checks(
    service: str, operation: str, params: dict[str, Any], account: str, region: str
) -> list[Check]:
    """(action, ARN) of each authorisation `service:operation` needs with these fields; the
    ARN is `*` for an operation AWS authorises on `*` or this cloud does not name."""
    if service == "kms":
        found = _kms(operation, params, account, region)
    else:
        namer = _NAMERS.get(service)
        arns = namer(operation, params, account, region) if namer else []
        found = [(f"{service}:{operation}", arn) for arn in arns]
    return found or [(f"{service}:{operation}", "*")]
