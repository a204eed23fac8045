"""Every change the local cloud makes to moto, installed in one place and in order.

moto's classes are process-wide, so the patches are too: `install` runs once per process, with
the parts of the one local cloud it serves as arguments (no module reaches for a global cloud),
and refuses a second, different set of parts. The order matters where patches meet:

1. S3 object bodies as files and change tracking (`shared.persistence`), before any state is
   restored into moto;
2. SageMaker's control plane (`services.sagemaker`): names checked, jobs and endpoints run in
   the data plane, the actions moto lacks, the shapes of its answers, and (`validation`, on
   the request, before any of them) requests checked against botocore's model (lengths,
   patterns, enums: instance types) and duplicate names refused,
   (`listing`) ListTrainingJobs filtered, sorted and paged as AWS does, the actions moto fakes
   refused (`refusals`, from the audit table), the requests moto crashes on checked (`checks`),
   images that cannot run here and JumpStart's model data refused where a model would use
   them (`images`, inside the model registry's resolution, so it sees a package's image),
   and (`roles`) each Create refused when SageMaker could not assume the role it is handed;
3. SageMaker Runtime's data path (`services.runtime`), and S3's answer for JumpStart's buckets
   (`services.s3`);
4. CloudFormation (`services.cloudformation`): SageMaker resources made through the SageMaker
   API and waited for in the data plane, change sets, every resource checked against the
   supported types with its events (`events`, given the SageMaker actions the audit refuses),
   roles' managed policies attached, then the resource types moto's CloudFormation lacks (its
   cached model lists are cleared last, once every type is in place);
5. CloudWatch alarms that evaluate (`services.cloudwatch`) and Application Auto Scaling that
   acts on them (`services.autoscaling`), both on the cloud's clock;
6. IAM (`services.iam`): SimulatePrincipalPolicy from the principal's policies, AWS managed
   policies in every account (`managed`); ECR (`services.ecr`): the registry login refused (no
   Docker engine, no registry); Lambda (`services.awslambda`): functions refused;
7. the gateway's: a modelled error for any action moto does not implement, real temporary keys
   from STS GetSessionToken (`gateway.trust`; `gateway.auth` checks every signature;
   `gateway.authorize`, called by the guard after it, a role key's request against the role's
   policies: it patches
   nothing; `gateway.accounts`, called by the guard too, keeps S3 accounts apart and
   AssumeRole within the role's trust: it patches nothing), the cloud's accounts as one
   organization (`organization`: `OrganizationAccountAccessRole` in every member account),
   and no CORS from moto's app (the guard answers cross-origin requests). The data plane gets
   SageMaker's keys (`gateway.trust.ServiceSessions`): jobs and endpoints act as their role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localcloud.dataplane.endpoints import Endpoints
    from localcloud.dataplane.processing import ProcessingJobs
    from localcloud.dataplane.training import TrainingJobs
    from localcloud.dataplane.transform import TransformJobs
    from localcloud.dataplane.tuning import TuningJobs
    from localcloud.shared.clock import Clock

_installed_for: tuple[Any, ...] | None = None


def install(
    *,
    jobs: TrainingJobs,
    endpoints: Endpoints,
    clock: Clock,
    transforms: TransformJobs,
    processing: ProcessingJobs,
    tuning: TuningJobs,
) -> None:
    """Patch moto for the local cloud whose data plane is `jobs`, `endpoints`, `transforms`,
    `processing` and `tuning`, on `clock`."""
    global _installed_for
    if _installed_for is not None:
        if _installed_for != (jobs, endpoints, clock, transforms, processing, tuning):
            raise RuntimeError("moto is already patched for another local cloud in this process")
        return
    from moto.moto_server import werkzeug_app

    from localcloud.gateway import organization, trust, unimplemented
    from localcloud.services.autoscaling import scaling
    from localcloud.services.awslambda import refusals as lambda_refusals
    from localcloud.services.cloudformation import autoscaling as cfn_autoscaling
    from localcloud.services.cloudformation import change_sets, events, resources, stacks
    from localcloud.services.cloudformation import roles as cfn_roles
    from localcloud.services.cloudwatch import alarms
    from localcloud.services.ecr import registry
    from localcloud.services.iam import managed, simulate
    from localcloud.services.runtime import invoke
    from localcloud.services.s3 import jumpstart
    from localcloud.services.sagemaker import (
        audit,
        checks,
        hooks,
        images,
        listing,
        packages,
        refusals,
        roles,
        shapes,
        validation,
    )
    from localcloud.services.sagemaker import processing as processing_hooks
    from localcloud.services.sagemaker import transforms as batch
    from localcloud.services.sagemaker import tuning as tuning_hooks
    from localcloud.shared import persistence

    persistence.install_key_hooks()
    hooks.install(jobs, endpoints)
    checks.install()
    images.install()
    packages.install()
    batch.install(transforms)
    processing_hooks.install(processing)
    tuning_hooks.install(tuning)
    shapes.install()
    validation.install()
    listing.install()
    refusals.install()
    sessions = trust.ServiceSessions()
    roles.install(sessions.check)
    for part in (jobs, endpoints, transforms, processing, tuning):
        part.sessions = sessions  # SageMaker's sessions of the roles jobs and endpoints run as
    invoke.install(endpoints)
    jumpstart.install()
    stacks.install(endpoints)
    change_sets.install()
    events.install(audit.refusals())
    cfn_roles.install()
    resources.install()
    cfn_autoscaling.install()
    alarms.install(on_action=scaling.alarm_action)
    endpoints.alarm_state = alarms.state_of  # deployments roll back on their alarms
    scaling.install(clock)
    simulate.install()
    registry.install()
    managed.install()
    lambda_refusals.install()
    unimplemented.install()
    trust.install()
    organization.install()
    werkzeug_app.DISABLE_GLOBAL_CORS = True  # type: ignore[attr-defined]
    _installed_for = (jobs, endpoints, clock, transforms, processing, tuning)
