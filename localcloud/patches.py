"""Every change the local cloud makes to moto, installed in one place and in order.

moto's classes are process-wide, so the patches are too: `install` runs once per process, with
the parts of the one local cloud it serves as arguments (no module reaches for a global cloud),
and refuses a second, different set of parts. The order matters where patches meet:

1. S3 object bodies as files and change tracking (`shared.persistence`), before any state is
   restored into moto;
2. SageMaker's control plane (`services.sagemaker`): names checked, jobs and endpoints run in
   the data plane, the actions moto lacks, the shapes of its answers;
3. SageMaker Runtime's data path (`services.runtime`);
4. CloudFormation (`services.cloudformation`): SageMaker resources waited for in the data
   plane, change sets, then the resource types moto's CloudFormation lacks (its cached model
   lists are cleared last, once every type is in place);
5. IAM (`services.iam`): SimulatePrincipalPolicy from the principal's policies;
6. the gateway's: a modelled error for any action moto does not implement, real temporary keys
   from STS GetSessionToken (`gateway.auth` checks every signature), and no CORS from moto's
   app (the guard answers cross-origin requests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localcloud.dataplane.endpoints import Endpoints
    from localcloud.dataplane.training import TrainingJobs

_installed_for: tuple[TrainingJobs, Endpoints] | None = None


def install(*, jobs: TrainingJobs, endpoints: Endpoints) -> None:
    """Patch moto for the local cloud whose data plane is `jobs` and `endpoints`."""
    global _installed_for
    if _installed_for is not None:
        if _installed_for != (jobs, endpoints):
            raise RuntimeError("moto is already patched for another local cloud in this process")
        return
    from moto.moto_server import werkzeug_app

    from localcloud.gateway import auth, unimplemented
    from localcloud.services.cloudformation import autoscaling, change_sets, resources, stacks
    from localcloud.services.iam import simulate
    from localcloud.services.runtime import invoke
    from localcloud.services.sagemaker import hooks, shapes
    from localcloud.shared import persistence

    persistence.install_key_hooks()
    hooks.install(jobs, endpoints)
    shapes.install()
    invoke.install(endpoints)
    stacks.install(endpoints)
    change_sets.install()
    resources.install()
    autoscaling.install()
    simulate.install()
    unimplemented.install()
    auth.install()
    werkzeug_app.DISABLE_GLOBAL_CORS = True  # type: ignore[attr-defined]
    _installed_for = (jobs, endpoints)
