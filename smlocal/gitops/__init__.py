"""GitOps promotion: git holds each environment's desired state, and a model moves forward by a
commit that rewrites the next environment's pin (`promote`, `rollback`); CI applies main.

Modules: `git` (dirty checks, commits, history), `sessions` (one boto3 session per
environment and account), `artifacts` (S3 copy and sha256), `checks` (what must hold before a
pin moves), `promote` (promote and rollback), `history`, `diffing`, `cli`.
"""
