"""smlocal: the project's application layer (the CLI, its commands, demo, status, GitOps) on top
of the rooms, and `smlocal.core`, the ground every room shares (manifests, catalog, AWS access)."""
