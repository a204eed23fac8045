"""smlocal: the project's CLI and the pieces every room shares (manifests, catalog, AWS access)."""
