"""The local cloud: AWS APIs on localhost (moto's server), with training jobs and endpoints
that really run. The only place that knows moto's internals."""
