"""Every SageMaker action, as the local cloud answers it: the one source of truth for the audit
table in docs/localcloud.md (`python -m localcloud.services.sagemaker.audit` prints it) and for
the refusals (`refusals.install`).

- runs: the local cloud does the work AWS does (processes, files, logs) or reports on it;
- records: pure metadata, kept as AWS keeps it (definitions, tags, experiments, reads);
- refused: HTTP 501 `NotImplementedException` naming the action. That is every action moto
  lacks, and every action moto answers with a canned success for work that never happens
  (a Studio domain `InService`, a pipeline execution `Succeeded` without a step run, ...).
"""

from __future__ import annotations

import functools

RUNS = "runs"
RECORDS = "records"
REFUSED = "refused"

_RUNS: dict[str, str] = {
    "CreateTrainingJob": "runs the script-mode job, one process per instance",
    "DescribeTrainingJob": "the run's status, times, metrics, artifacts",
    "ListTrainingJobs": "",
    "StopTrainingJob": "SIGTERM, then SIGKILL after the grace period",
    "CreateEndpoint": "starts `inference.server` for the first variant",
    "DescribeEndpoint": "the serving process's status",
    "ListEndpoints": "",
    "UpdateEndpoint": (
        "blue/green switch to the new config; `DeploymentConfig` shifts traffic, bakes and rolls "
        "back on its alarms"
    ),
    "DeleteEndpoint": "stops the serving process",
    "CreateTransformJob": "serves the model in a transient process, `<key>.out` per input",
    "DescribeTransformJob": "",
    "ListTransformJobs": "",
    "StopTransformJob": "",
    "CreateProcessingJob": "runs the entry point with this Python, one process per instance",
    "DescribeProcessingJob": "",
    "ListProcessingJobs": "",
    "StopProcessingJob": "",
    "CreateHyperParameterTuningJob": "Grid, Random (Bayesian as Random): real training jobs",
    "DescribeHyperParameterTuningJob": "",
    "ListHyperParameterTuningJobs": "",
    "ListTrainingJobsForHyperParameterTuningJob": "",
    "StopHyperParameterTuningJob": "",
    "CreateModel": "a `ModelPackageName` container resolves to its image and model data (Approved)",
}

_RECORDS: dict[str, str] = {
    "AddTags": "",
    "DeleteTags": "",
    "ListTags": "",
    "Search": "moto's search over its records",
    "DescribeModel": "",
    "DeleteModel": "",
    "ListModels": "",
    "CreateEndpointConfig": "",
    "DescribeEndpointConfig": "",
    "DeleteEndpointConfig": "",
    "ListEndpointConfigs": "",
    "UpdateEndpointWeightsAndCapacities": "capacity recorded; no process started or stopped",
    "CreateExperiment": "",
    "DescribeExperiment": "",
    "DeleteExperiment": "",
    "ListExperiments": "",
    "CreateTrial": "",
    "DescribeTrial": "",
    "DeleteTrial": "",
    "ListTrials": "",
    "CreateTrialComponent": "",
    "DescribeTrialComponent": "",
    "DeleteTrialComponent": "",
    "ListTrialComponents": "",
    "UpdateTrialComponent": "",
    "AssociateTrialComponent": "",
    "DisassociateTrialComponent": "",
    "CreateModelCard": "",
    "DescribeModelCard": "",
    "DeleteModelCard": "",
    "ListModelCards": "",
    "ListModelCardVersions": "",
    "UpdateModelCard": "",
    "CreateModelPackageGroup": "",
    "DescribeModelPackageGroup": "",
    "ListModelPackageGroups": "",
    "CreateModelPackage": "no validation or image scan runs; a ValidationSpecification is refused",
    "DescribeModelPackage": "",
    "ListModelPackages": "",
    "UpdateModelPackage": "approval recorded; fields a request leaves out are kept",
    "CreateNotebookInstanceLifecycleConfig": "",
    "DescribeNotebookInstanceLifecycleConfig": "",
    "DeleteNotebookInstanceLifecycleConfig": "",
    "CreatePipeline": "the definition only; executions are refused",
    "DescribePipeline": "",
    "UpdatePipeline": "",
    "DeletePipeline": "",
    "ListPipelines": "",
    "ListPipelineExecutions": "",
    "DescribePipelineExecution": "",
    "DescribePipelineDefinitionForExecution": "",
    "ListPipelineParametersForExecution": "",
    "DescribeAutoMLJobV2": "",
    "ListAutoMLJobs": "",
    "DescribeCluster": "",
    "DescribeClusterNode": "",
    "ListClusterNodes": "",
    "ListClusters": "",
    "DeleteCluster": "",
    "DescribeCompilationJob": "",
    "ListCompilationJobs": "",
    "DeleteCompilationJob": "",
    "DescribeDomain": "",
    "ListDomains": "",
    "DeleteDomain": "",
    "DescribeFeatureGroup": "",
    "DescribeNotebookInstance": "",
    "ListNotebookInstances": "",
    "DeleteNotebookInstance": "",
    "DeleteHyperParameterTuningJob": "",
}
for _kind in ("DataQuality", "ModelBias", "ModelExplainability", "ModelQuality"):
    for _verb in ("Create", "Describe", "Delete"):
        _RECORDS[f"{_verb}{_kind}JobDefinition"] = "the definition; no schedule runs it"
    _RECORDS[f"List{_kind}JobDefinitions"] = ""

# Actions moto implements with a canned success for work that never happens: refused.
FAKED: dict[str, str] = {
    "CreateAutoMLJobV2": "AutoML would report candidates it never trained",
    "StopAutoMLJob": "no AutoML job runs",
    "CreateCluster": "HyperPod would report InService without a node",
    "CreateCompilationJob": "Neo would report Completed without compiling",
    "CreateDomain": "Studio would report InService with a URL nothing serves",
    "CreateFeatureGroup": "no online or offline store would exist",
    "CreateNotebookInstance": "would report InService with a URL nothing serves",
    "StartNotebookInstance": "no notebook server runs",
    "StopNotebookInstance": "no notebook server runs",
    "StartPipelineExecution": "would report Succeeded without running a step",
}


def _operations() -> list[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return sorted(model.operation_names)


@functools.cache
def table() -> dict[str, tuple[str, str]]:
    """{action: (runs | records | refused, note)} for every action in botocore's model."""
    out = {}
    for action in _operations():
        if action in _RUNS:
            out[action] = (RUNS, _RUNS[action])
        elif action in _RECORDS:
            out[action] = (RECORDS, _RECORDS[action])
        elif action in FAKED:
            out[action] = (REFUSED, FAKED[action])
        else:
            out[action] = (REFUSED, "")
    return out


def refused() -> set[str]:
    return {action for action, (kind, _) in table().items() if kind == REFUSED}


def refusals() -> dict[str, str]:
    """{action: why} of every refused action (why may be empty)."""
    return {action: note for action, (kind, note) in table().items() if kind == REFUSED}


def markdown() -> str:
    """The audit table for docs/localcloud.md: the runs and records rows, then the refused
    actions as one list (most of the API)."""
    rows = ["| action | local cloud | note |", "|---|---|---|"]
    for action, (kind, note) in table().items():
        if kind != REFUSED or note:
            rows.append(f"| {action} | {kind} | {note} |")
    plain = [a for a, (kind, note) in table().items() if kind == REFUSED and not note]
    counts = {k: sum(1 for v, _ in table().values() if v == k) for k in (RUNS, RECORDS, REFUSED)}
    head = (
        f"{len(table())} actions: {counts[RUNS]} run, {counts[RECORDS]} record, "
        f"{counts[REFUSED]} refused."
    )
    tail = "Refused (HTTP 501 `NotImplementedException`), the rest: " + ", ".join(plain) + "."
    return "\n".join([head, "", *rows, "", tail]) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
